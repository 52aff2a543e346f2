"""The worker runner's HTTP API on port 12000 (cocoon-protocol.md §4), served by the simulator.

Faithful parts: paths, answers and their order, `/jsonstats` keys/order/shapes (with the
duplicated `cached_tokens_price_multiplier` and the constant `status.enabled`), headers, query
strings split on `&`/`=` without percent-decoding, `http_access_hash`, 400 "not found" elsewhere.
Deviation: aiohttp answers in the request's HTTP version (the runner always says HTTP/1.0).
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from cocoon_dev.runtime.runner_sim import SIMULATOR_COMMIT, SIMULATOR_COMMIT_DATA, jsonout
from cocoon_dev.runtime.runner_sim.chain import TON, SimRootConfig
from cocoon_dev.runtime.runner_sim.counters import COUNTER_NAMES, WINDOWS_S
from cocoon_dev.runtime.runner_sim.jsonout import Obj
from cocoon_dev.runtime.runner_sim.runner import MIN_WALLET_BALANCE, WARNING_WALLET_BALANCE, Runner

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
}
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
RUNNER: web.AppKey[Runner] = web.AppKey("runner", Runner)
Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]


def parse_query(raw: str) -> dict[str, str]:
    """Split on `&` and `=`, no percent-decoding (runner quirk)."""
    args: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        args[key] = value
    return args


def answer(body: str, content_type: str, status: int = 200) -> web.Response:
    data = body.encode()
    return web.Response(
        body=data,
        status=status,
        headers={**CORS_HEADERS, "Content-Type": content_type, "Server": "cocoon-dev-simulator"},
    )


def control_page(text: str) -> web.Response:
    return answer(f'<html><body>{text}<br/><a href="/stats">back to stats</a></body></html>\n', HTML)


# ----- /jsonstats ----------------------------------------------------------------------------------


# The root contract's parameters that /jsonstats shows under their own names, in the runner's order.
ROOT_PARAMS = (
    "version",
    "struct_version",
    "params_version",
    "unique_id",
    "is_test",
    "price_per_token",
    "worker_fee_per_token",
    "prompt_tokens_price_multiplier",
    "cached_tokens_price_multiplier",
    "completion_tokens_price_multiplier",
    "cached_tokens_price_multiplier",  # quirk: emitted twice
    "reasoning_tokens_price_multiplier",
    "proxy_delay_before_close",
    "client_delay_before_close",
    "proxy_min_stake",
    "client_min_stake",
)
WALLET_FIELDS = ("address", "balance", "seqno", "pending_transactions_cnt", "active_transactions_cnt")
PROXY_FIELDS = ("seqno", "address_for_clients", "address_for_workers")


def _own_names(obj: object, names: tuple[str, ...]) -> list[tuple[str, jsonout.Value]]:
    """`(name, obj.name)` for the fields the runner prints under their own names."""
    return [(name, getattr(obj, name)) for name in names]


def root_obj(root: SimRootConfig) -> Obj:
    return Obj(
        [
            ("owner_address", root.owner_address),
            ("proxy_hashes", [h.hex() for h in root.proxy_hashes]),
            ("registered_proxies", [Obj(_own_names(p, PROXY_FIELDS)) for p in root.registered_proxies]),
            ("last_proxy_seqno", root.last_proxy_seqno),
            ("worker_hashes", [h.hex() for h in root.worker_hashes]),
            ("model_hashes", [h.hex() for h in root.model_hashes]),
            *_own_names(root, ROOT_PARAMS),
            ("proxy_code_hash", root.proxy_code_hash.hex()),
            ("worker_code_hash", root.worker_code_hash.hex()),
            ("client_code_hash", root.client_code_hash.hex()),
        ]
    )


def jsonstats(runner: Runner) -> Obj:
    state = runner.state
    root = state.root or SimRootConfig()
    wallet = state.wallet
    status: list[tuple[str, jsonout.Value]] = []
    if wallet is not None:
        status.append(("wallet_balance", wallet.balance))
    status += [
        ("actual_image_hash", runner.actual_image_hash()),
        ("actual_model", runner.actual_model()),
        ("ton_last_synced_at", root.sync_utime),
        ("enabled", True),  # quirk: hard-coded, the real state is only in the HTML
        ("git_commit", SIMULATOR_COMMIT),
        ("git_commit_data", SIMULATOR_COMMIT_DATA),
    ]
    stats = Obj([(name, runner.stats.counters[name].snapshot()) for name in COUNTER_NAMES])
    items: list[tuple[str, jsonout.Value]] = [("status", Obj(status)), ("stats", stats)]
    if wallet is not None:
        items.append(("wallet", Obj(_own_names(wallet, WALLET_FIELDS))))
    items.append(
        (
            "localconfig",
            Obj(
                [
                    ("root_address", runner.config.root_contract_address),
                    ("owner_address", runner.config.owner_address),
                    ("model", runner.config.model_name),
                    ("coefficient", runner.coefficient),
                    ("check_proxy_hash", runner.config.checks_enabled),
                ]
            ),
        )
    )
    items.append(("root_contract_config", root_obj(root)))
    items.append(
        (
            "proxies",
            [
                Obj(
                    [
                        ("sc_inited", p.sc_inited),
                        ("proxy_sc_address", p.identity.proxy_sc_address),
                        ("proxy_public_key", p.identity.proxy_public_key.hex()),
                        ("sc_address", p.identity.worker_sc_address),
                        ("earned_tokens_committed_to_blockchain", p.committed_to_blockchain),
                        ("earned_tokens_committed_to_proxy_db", p.committed_to_db),
                        ("earned_tokens_max_known", p.max_known),
                        ("cached_out_tokens", p.cached_out),
                        ("expected_cached_out_tokens", p.expected_cached_out),
                        ("running_request", p.running_request),
                        ("params_version", p.identity.params_version),
                    ]
                )
                for p in state.proxies.values()
            ],
        )
    )
    return Obj(items)


# ----- /stats (HTML) -------------------------------------------------------------------------------


def _ton(nano: int) -> str:
    return f"{nano / TON:.3f} TON"


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<h2>{title}</h2><table>{body}</table>"


def stats_page(runner: Runner) -> str:
    state = runner.state
    root = state.root or SimRootConfig()
    wallet = state.wallet
    now = time.time()
    status: list[tuple[str, str]] = []
    if wallet is not None:
        level = (
            "balance too low"
            if wallet.balance < MIN_WALLET_BALANCE
            else "balance low"
            if wallet.balance < WARNING_WALLET_BALANCE
            else "balance ok"
        )
        status.append(("wallet", f"{level} on {wallet.address}"))
    checks = runner.config.checks_enabled
    image = runner.image_hash.hex()
    status.append(
        (
            "image",
            f"cannot check our hash {image}"
            if not checks
            else f"our hash {image} is in root contract"
            if runner.actual_image_hash()
            else f"our hash {image} not found in root contract",
        )
    )
    model = runner.model_hash.hex()
    status.append(
        (
            "model",
            f"cannot check our hash {model}"
            if not checks
            else f"our hash {model} is in root contract"
            if runner.actual_model()
            else f"our hash {model} not found in root contract",
        )
    )
    age = now - root.sync_utime
    status.append(("ton", "synced" if age < 600 else "late" if age < 3600 else "out of sync"))
    status.append(
        (
            "enabled",
            'no <a href="/request/enable">enable</a>'
            if state.force_disabled
            else 'yes <a href="/request/disable">disable</a>',
        )
    )
    status.append(("model connection", "connected" if state.uplink_ok else "disconnected"))
    status.append(("version", f"{SIMULATOR_COMMIT} {SIMULATOR_COMMIT_DATA}"))

    header = "".join(f"<th>{h}</th>" for h in ("", "total", *(f"{int(t)}s" for t in WINDOWS_S)))
    stat_rows = "".join(
        "<tr><td>"
        + name
        + "</td>"
        + "".join(
            f"<td>{jsonout.format_float(float(v))}</td>" for v in runner.stats.counters[name].snapshot()
        )
        + "</tr>"
        for name in COUNTER_NAMES
    )
    parts = [
        "<html><head><title>cocoon-dev-simulator worker runner</title></head><body>",
        "<p><b>cocoon-dev-simulator</b>: development stand-in for the COCOON worker runner, "
        "not the official runner.</p>",
        _table("STATUS", status),
        f"<h2>STATS</h2><table><tr>{header}</tr>{stat_rows}</table>",
    ]
    if wallet is not None:
        parts.append(
            _table(
                "WALLET",
                [
                    ("address", wallet.address),
                    ("balance", _ton(wallet.balance)),
                    ("seqno", str(wallet.seqno)),
                ],
            )
        )
    parts.append(
        _table(
            "LOCAL CONFIG",
            [
                ("root address", runner.config.root_contract_address),
                ("owner address", runner.config.owner_address),
                ("model", html.escape(runner.config.model_name)),
                ("model hash", model),
                ("coefficient", f"{runner.coefficient * 0.001:g}"),
                ("max_active_requests", str(runner.config.max_active_requests)),
                ("active_requests", str(state.active_requests)),
            ],
        )
    )
    parts.append(
        _table(
            "ROOT CONFIG",
            [(k, html.escape(str(v))) for k, v in root_obj(root).items if not isinstance(v, list)],
        )
    )
    parts.append(
        _table(
            "PROXY CONNECTIONS",
            [
                (
                    str(p.seqno),
                    f"{html.escape(p.address_for_workers)} " + ("ready" if state.proxies else "not ready"),
                )
                for p in root.registered_proxies[: runner.config.proxy_connections]
            ],
        )
    )
    for p in state.proxies.values():
        fee = root.worker_fee_per_token
        gained = p.to_payout
        take = (
            f' <a href="/request/payout?proxy={p.identity.proxy_sc_address}">take now</a>'
            if gained > 0
            else ""
        )
        parts.append(
            _table(
                f"PROXY {p.identity.proxy_sc_address}",
                [
                    (
                        "worker contract",
                        p.identity.worker_sc_address + ("" if p.sc_inited else " (not inited)"),
                    ),
                    (
                        "earned tokens",
                        f"{p.committed_to_blockchain}/{p.committed_to_db}/{p.max_known} "
                        f"(~{_ton(p.committed_to_blockchain * fee)})",
                    ),
                    ("tokens cashed out", str(p.cached_out)),
                    ("expected tokens cashed out", str(p.expected_cached_out)),
                    ("gained", f"{gained} (~{_ton(gained * fee)}){take}"),
                    ("running request", "yes" if p.running_request else "no"),
                    ("params version", str(p.identity.params_version)),
                ],
            )
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def perf_page(runner: Runner) -> str:
    uptime = time.time() - runner.started_at
    return (
        "cocoon-dev-simulator: development stand-in, no actor scheduler statistics\n"
        f"uptime {uptime:.1f}\n"
        f"active_requests {runner.state.active_requests}\n"
    )


# ----- handlers ------------------------------------------------------------------------------------


async def h_jsonstats(request: web.Request, args: dict[str, str]) -> web.Response:
    return answer(jsonout.dumps(jsonstats(request.app[RUNNER])), "application/json")


async def h_stats(request: web.Request, args: dict[str, str]) -> web.Response:
    return answer(stats_page(request.app[RUNNER]), HTML)


async def h_payout(request: web.Request, args: dict[str, str]) -> web.Response:
    return control_page(request.app[RUNNER].request_payout(args.get("proxy", "")))


async def h_enable(request: web.Request, args: dict[str, str]) -> web.Response:
    request.app[RUNNER].state.force_disabled = False
    return control_page("state updated")


async def h_disable(request: web.Request, args: dict[str, str]) -> web.Response:
    request.app[RUNNER].state.force_disabled = True
    return control_page("state updated")


async def h_change_coefficient(request: web.Request, args: dict[str, str]) -> web.Response:
    if "coefficient" not in args:
        return answer(
            '<html><body><form action="/request/change_coefficient">coefficient: '
            '<input name="coefficient"/><input type="submit"/></form></body></html>\n',
            HTML,
        )
    raw = args["coefficient"]
    try:
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(raw)
    except ValueError:
        return control_page(f"failed to parse '{html.escape(raw)}' as double")
    coefficient = int(value * 1000)  # trunc(x·1000)
    request.app[RUNNER].set_coefficient(coefficient)
    return control_page(f"coefficient set to {coefficient / 1000:g}")


CUSTOM: dict[str, Handler] = {
    "/jsonstats": h_jsonstats,
    "/stats": h_stats,
    "/request/payout": h_payout,
    "/request/enable": h_enable,
    "/request/disable": h_disable,
    "/request/change_coefficient": h_change_coefficient,
}


async def dispatch(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    args = parse_query(request.rel_url.raw_query_string)
    if request.path == "/perf":
        return answer(perf_page(runner), TEXT)
    handler = CUSTOM.get(request.path)
    if handler is None or not runner.state.initialized:
        return answer("not found", TEXT, status=400)
    access = runner.config.http_access_hash
    if access and args.get("access_hash") != access:
        return answer("bad request", TEXT, status=400)
    return await handler(request, args)


def make_app(runner: Runner) -> web.Application:
    app = web.Application()
    app[RUNNER] = runner
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
