"""Development stand-in for the COCOON worker's LLM, served by Triton's Python backend.

It answers a miniature OpenAI chat completion: the input tensor `request` holds the JSON request
body, the output tensor `response` the JSON response with `choices` and `usage`. Tokens are
whitespace-separated words, so every count is deterministic:

- prompt_tokens: words of all message contents (+1 per message for its role);
- cached_tokens: words of the system messages (a stand-in for a prefix cache hit);
- completion_tokens: `max_tokens` (default 16) words of generated text;
- reasoning_tokens: 0, or 2/4/8 for `reasoning_effort` low/medium/high (never > completion).

Fault injection for tests, from the model config parameters: `init_delay_s` (slow load),
`fail_init` (broken model); from the request: `x_dev_sleep_s` (slow request, at most 30 s).
This file runs inside Triton's Python stub (its own venv), so it uses the standard library and
numpy only.
"""

import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils

REASONING = {"low": 2, "medium": 4, "high": 8}
MAX_SLEEP_S = 30.0
MAX_COMPLETION = 4096


def _param(config: dict, key: str, default: str) -> str:  # type: ignore[type-arg]
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value is None else value


def _words(text: object) -> list[str]:
    return text.split() if isinstance(text, str) else []


def _content_text(content: object) -> str:
    # OpenAI allows a string or a list of parts ({"type": "text", "text": ...}).
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def complete(request: dict, served_model_name: str, counter: int) -> dict:  # type: ignore[type-arg]
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    prompt_words = []
    prompt_tokens = 0
    cached_tokens = 0
    for m in messages:
        if not isinstance(m, dict):
            raise ValueError("every message must be an object")
        words = _words(_content_text(m.get("content")))
        prompt_words.extend(words)
        prompt_tokens += len(words) + 1
        if m.get("role") == "system":
            cached_tokens += len(words)
    max_tokens = request.get("max_tokens", request.get("max_completion_tokens", 16))
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError("'max_tokens' must be a positive integer")
    completion_tokens = min(max_tokens, MAX_COMPLETION)
    source = prompt_words or ["stand-in"]
    text = " ".join(source[i % len(source)] for i in range(completion_tokens))
    reasoning = min(REASONING.get(str(request.get("reasoning_effort")), 0), completion_tokens)
    return {
        "id": f"chatcmpl-standin-{counter}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or served_model_name,
        "system_fingerprint": "cocoon-dev-stand-in",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if completion_tokens == max_tokens else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


class TritonPythonModel:
    def initialize(self, args: dict) -> None:  # type: ignore[type-arg]
        config = json.loads(args["model_config"])
        self.served_model_name = _param(config, "served_model_name", "cocoon-dev/stand-in")
        delay = float(_param(config, "init_delay_s", "0"))
        if delay > 0:
            time.sleep(min(delay, 600.0))
        if _param(config, "fail_init", "false").lower() == "true":
            raise RuntimeError("cocoon-dev stand-in model: fail_init=true (fault injection)")
        self.counter = 0

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        responses = []
        for r in requests:
            raw = pb_utils.get_input_tensor_by_name(r, "request").as_numpy().reshape(-1)[0]
            try:
                body = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
                if not isinstance(body, dict):
                    raise ValueError("the request must be a JSON object")
                sleep_s = float(body.get("x_dev_sleep_s", 0) or 0)
                if sleep_s > 0:
                    time.sleep(min(sleep_s, MAX_SLEEP_S))
                self.counter += 1
                answer = complete(body, self.served_model_name, self.counter)
            except (ValueError, TypeError) as exc:
                error = pb_utils.TritonError(f"bad request: {exc}")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            out = np.array([json.dumps(answer).encode("utf-8")], dtype=np.object_)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("response", out)]))
        return responses

    def finalize(self) -> None:
        pass
