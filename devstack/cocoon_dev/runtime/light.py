"""Light mode of the local runtime, for benchmarks with many worker pods.

No subprocesses and no Triton: inside the runtime's own process, each pod IP gets small aiohttp
servers that answer what the operator polls:
- Triton health on 8000 (`/v2/health/live`, `/v2/health/ready`, `/v2/models/<m>/ready`, `/v2`) and a
  minimal `/metrics` on 8002;
- `/v1/models` on the OpenAI front port (9000);
- the runner's HTTP API on 12000, served by the real runner simulator code with a fake chain and no
  traffic (so `/jsonstats` has the exact shape).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cocoon_dev.runtime.runner_sim.chain import FakeTonChain
from cocoon_dev.runtime.runner_sim.config import ConfigError, WorkerConfig
from cocoon_dev.runtime.runner_sim.runner import Runner, Settings
from cocoon_dev.runtime.runner_sim.web_api import make_app as runner_app

if TYPE_CHECKING:
    from cocoon_dev.runtime.kubelet import Kubelet

log = logging.getLogger("cocoon_dev.runtime.light")

# A complete config for a pod whose own worker-config.json is missing or refused (only the shape of
# /jsonstats matters here).
STAND_IN_CONFIG = {
    "is_test": True,
    "model_name": "cocoon-dev/stand-in",
    "owner_address": "0:" + "0" * 64,
    "root_contract_address": "0:" + "0" * 64,
    "connect_to_proxy_via": "127.0.0.1:8116",
    "forward_requests_to": "127.0.0.1:9000",
}

METRICS = (
    "# HELP nv_inference_request_success Number of successful inference requests\n"
    "# TYPE nv_inference_request_success counter\n"
    'nv_inference_request_success{model="cocoon_llm",version="1"} 0\n'
    "# HELP nv_inference_request_failure Number of failed inference requests\n"
    "# TYPE nv_inference_request_failure counter\n"
    'nv_inference_request_failure{model="cocoon_llm",reason="BACKEND",version="1"} 0\n'
)


def triton_health_app(served_name: str) -> web.Application:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="")

    async def server_meta(_: web.Request) -> web.Response:
        return web.json_response(
            {"name": "triton (cocoon-dev light stand-in)", "version": "2.51.0", "extensions": []}
        )

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": served_name,
                        "object": "model",
                        "created": 0,
                        "owned_by": "cocoon-dev light stand-in",
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_get("/v2/health/live", ok)
    app.router.add_get("/v2/health/ready", ok)
    app.router.add_get("/v2/models/{model}/ready", ok)
    app.router.add_get("/v2/models/{model}/versions/{v}/ready", ok)
    app.router.add_get("/v2", server_meta)
    app.router.add_get("/v1/models", models)
    return app


def metrics_app() -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=METRICS, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


class LightPod:
    def __init__(self, runtime: Kubelet, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.runtime = runtime
        self.pod = pod
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.ip: str = pod["status"]["podIP"]
        self.dir = runtime.options.state_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        self.last_patch: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._sites: list[web.AppRunner] = []
        self._runner: Runner | None = None

    def pids(self) -> dict[str, int]:
        return {}

    async def _config(self) -> WorkerConfig:
        from cocoon_dev.runtime.kubelet import materialize_volumes

        volumes = await materialize_volumes(self.runtime.kube, self.pod, self.dir / "volumes")
        for local in volumes.values():
            for path in local.rglob("worker-config.json"):
                with contextlib.suppress(ConfigError, OSError, ValueError):
                    return WorkerConfig.from_dict(json.loads(path.read_text()))
        return WorkerConfig.from_dict(STAND_IN_CONFIG)

    async def _serve(self, app: web.Application, port: int) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.ip, port).start()
        self._sites.append(runner)

    async def _patch(self, desired: dict[str, Any]) -> bool:
        try:
            await self.runtime.kube.patch_status(self.namespace, self.name, desired)
        except Exception as exc:
            log.debug("Status patch for %s/%s failed: %s", self.namespace, self.name, exc)
            return False
        return True

    async def run(self) -> None:
        from cocoon_dev.runtime.kubelet import _ip_in_use

        warned = False
        while (taken := await _ip_in_use(self.ip)) is not None:
            message = (
                f"another process listens on {self.ip}:{taken} (another local cluster with this pod CIDR?)"
            )
            if not warned:
                log.warning("Pod %s/%s: %s", self.namespace, self.name, message)
                waiting = {"waiting": {"reason": "PodIPInUse", "message": message}}
                statuses = [
                    {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                     "started": False, "restartCount": 0, "state": waiting}
                    for c in self.pod["spec"]["containers"]
                ]  # fmt: skip
                warned = await self._patch({"containerStatuses": statuses})
            await asyncio.sleep(5)
        config = await self._config()
        config = replace(config, forward_requests_to=f"{self.ip}:9000")
        served = config.model_name.split("@", 1)[0] or "cocoon-dev/stand-in"
        self._runner = Runner(
            config,
            FakeTonChain(config.owner_address, config.node_wallet_key),
            Settings(
                request_rate=0, uplink_interval_s=30, refresh_s=30, root_refresh_s=600, self_claim=False
            ),
        )
        await self._serve(triton_health_app(served), 8000)
        await self._serve(metrics_app(), 8002)
        await self._serve(triton_health_app(served), 9000)
        await self._serve(runner_app(self._runner), config.http_port)
        await self._runner.start()
        now = _now()
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
                "containerID": "cocoon-dev://light",
            }
            for c in self.pod["spec"]["containers"]
        ]
        conditions = [
            c
            for c in (self.pod.get("status") or {}).get("conditions") or []
            if c["type"] not in ("Ready", "ContainersReady")
        ]
        conditions += [
            {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
            for t in ("ContainersReady", "Ready")
        ]
        while self.last_patch is None:
            desired = {"conditions": conditions, "containerStatuses": statuses}
            if await self._patch(desired):
                self.last_patch = desired
            else:
                await asyncio.sleep(2)
        await asyncio.Event().wait()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self._runner is not None:
            await self._runner.stop()
        for site in self._sites:
            await site.cleanup()
        self._sites.clear()


def _now() -> str:
    from cocoon_dev.runtime.kubelet import now_rfc3339

    return now_rfc3339()
