"""Lightweight runtime for scale benchmarks: ONE process serves health for every worker pod IP.

Unlike `light.py` (a full runner simulator and volume materialisation per pod), this keeps only what
an operator polls, with a constant per-pod cost (a few listening sockets and a dict entry):

- Triton health on 8000: `/v2/health/live`, `/v2/health/ready`, `/v2/models/<m>/ready`,
  `/v2/models/<m>/versions/<v>/ready`, `/v2` (server metadata);
- a minimal Prometheus `/metrics` on 8002 and `/v1/models` on the OpenAI front port 9000;
- the runner's `GET /jsonstats` on 12000, in the shape and formatting of cocoon-protocol.md §4.1
  (written by the runner simulator's `jsonout`), with idle counters.

It is driven by a pod watch (all namespaces, label `app.kubernetes.io/name=cocoon-worker`): a pod that
is Running with an IP inside `--cidr` gets listeners on that IP (one aiohttp app per port, one site per
IP: the handler knows the pod from the local address); a pod that goes away or changes IP loses them.
Per-IP binds (not 0.0.0.0) so that several clusters on one machine can use disjoint loopback ranges.

With `--patch-ready` it also patches the pod status the way the process runtime does (Ready and
ContainersReady True, containerStatuses running/ready/started) once the listeners are up, and only
when the pod does not already say so (no writes that change nothing).

    python -m cocoon_dev.runtime.lightweight --kubeconfig K [--cidr 127.100.0.0/16] [--patch-ready]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import logging
import os
import signal
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from cocoon_dev.runtime.runner_sim import jsonout
from cocoon_dev.runtime.runner_sim.counters import COUNTER_NAMES
from cocoon_dev.runtime.runner_sim.jsonout import Obj

log = logging.getLogger("cocoon_dev.runtime.lightweight")

WORKER_SELECTOR = "app.kubernetes.io/name=cocoon-worker"
TRITON_HTTP, TRITON_METRICS, OPENAI_FRONT, RUNNER_HTTP = 8000, 8002, 9000, 12000
DEFAULT_PORTS = (TRITON_HTTP, TRITON_METRICS, OPENAI_FRONT, RUNNER_HTTP)
METRICS = (
    "# HELP nv_inference_request_success Number of successful inference requests\n"
    "# TYPE nv_inference_request_success counter\n"
    'nv_inference_request_success{model="cocoon_llm",version="1"} 0\n'
)
ZERO_RATES = [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


@dataclass
class PodInfo:
    namespace: str
    name: str
    ip: str
    model: str
    owner_address: str
    coefficient: int
    sites: list[web.TCPSite] = field(default_factory=list)


def _env(container: dict[str, Any], name: str) -> str | None:
    for item in container.get("env") or []:
        if item.get("name") == name and isinstance(item.get("value"), str):
            return str(item["value"])
    return None


def pod_info(pod: dict[str, Any]) -> PodInfo:
    """What the stand-in answers with, read from the pod spec (no volumes are read)."""
    meta = pod["metadata"]
    model, owner, coefficient = "cocoon-dev/stand-in", "", 1000
    for c in pod["spec"].get("containers") or []:
        model = _env(c, "COCOON_MODEL") or _env(c, "MODEL_NAME") or model
        owner = _env(c, "COCOON_OWNER_ADDRESS") or owner
        with contextlib.suppress(TypeError, ValueError):
            coefficient = int(_env(c, "COCOON_WORKER_COEFFICIENT") or coefficient)
    return PodInfo(meta["namespace"], meta["name"], pod["status"]["podIP"], model, owner, coefficient)


def jsonstats(info: PodInfo, started: float) -> str:
    """An idle runner's `/jsonstats` (cocoon-protocol.md §4.1): no wallet object yet, no proxies."""
    doc = Obj(
        [
            (
                "status",
                Obj(
                    [
                        ("actual_image_hash", True),
                        ("actual_model", True),
                        ("ton_last_synced_at", int(started)),
                        ("enabled", True),
                        ("git_commit", "lightweight"),
                        ("git_commit_data", ""),
                    ]
                ),
            ),
            ("stats", Obj([(name, list(ZERO_RATES)) for name in COUNTER_NAMES])),
            (
                "localconfig",
                Obj(
                    [
                        ("root_address", ""),
                        ("owner_address", info.owner_address),
                        ("model", info.model),
                        ("coefficient", info.coefficient),
                        ("check_proxy_hash", False),
                    ]
                ),
            ),
            ("proxies", []),
        ]
    )
    return jsonout.dumps(doc)


class Server:
    """Listeners for every pod IP, plus the pod watch that drives them."""

    def __init__(self, api: Api, cidr: str, ports: tuple[int, ...], patch_ready: bool) -> None:
        self.api = api
        self.network = ipaddress.ip_network(cidr)
        self.ports = ports
        self.patch_ready = patch_ready
        self.pods: dict[str, PodInfo] = {}  # by pod IP
        self.keys: dict[tuple[str, str], str] = {}  # (namespace, name) -> IP
        self.runners: dict[int, web.AppRunner] = {}
        self.started = time.time()
        self.requests = 0
        self.patches = 0

    # ----- HTTP -----
    def _pod(self, request: web.Request) -> PodInfo | None:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        self.requests += 1
        return self.pods.get(sock[0]) if sock else None

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self._pod(request) else 503)

    async def _meta(self, request: web.Request) -> web.Response:
        self._pod(request)
        return web.json_response(
            {"name": "triton (lightweight stand-in)", "version": "2.51.0", "extensions": []}
        )

    async def _models(self, request: web.Request) -> web.Response:
        info = self._pod(request)
        name = info.model.split("@", 1)[0] if info else "cocoon-dev/stand-in"
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "lightweight stand-in"}]
        return web.json_response({"object": "list", "data": data})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._pod(request)
        return web.Response(text=METRICS, content_type="text/plain")

    async def _jsonstats(self, request: web.Request) -> web.Response:
        info = self._pod(request)
        if info is None:
            return web.Response(status=400, text="not found")
        return web.Response(
            text=jsonstats(info, self.started),
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
        )

    def _app(self, port: int) -> web.Application:
        app = web.Application()
        if port == TRITON_HTTP:
            app.router.add_get("/v2/health/live", self._ok)
            app.router.add_get("/v2/health/ready", self._ok)
            app.router.add_get("/v2/models/{model}/ready", self._ok)
            app.router.add_get("/v2/models/{model}/versions/{v}/ready", self._ok)
            app.router.add_get("/v2", self._meta)
        elif port == TRITON_METRICS:
            app.router.add_get("/metrics", self._metrics)
        elif port == OPENAI_FRONT:
            app.router.add_get("/v1/models", self._models)
            app.router.add_get("/v2/health/ready", self._ok)
        elif port == RUNNER_HTTP:
            app.router.add_get("/jsonstats", self._jsonstats)
        return app

    async def start(self) -> None:
        for port in self.ports:
            runner = web.AppRunner(self._app(port), access_log=None, handle_signals=False)
            await runner.setup()
            self.runners[port] = runner

    async def stop(self) -> None:
        for ip in list(self.pods):
            await self._unbind(ip)
        for runner in self.runners.values():
            await runner.cleanup()

    # ----- pods -----
    async def _bind(self, info: PodInfo) -> None:
        for port, runner in self.runners.items():
            site = web.TCPSite(runner, info.ip, port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                log.warning("cannot bind %s:%d for %s/%s: %s", info.ip, port, info.namespace, info.name, exc)
                continue
            info.sites.append(site)
        self.pods[info.ip] = info
        self.keys[(info.namespace, info.name)] = info.ip

    async def _unbind(self, ip: str) -> None:
        info = self.pods.pop(ip, None)
        if info is None:
            return
        self.keys.pop((info.namespace, info.name), None)
        for site in info.sites:
            with contextlib.suppress(Exception):
                await site.stop()

    async def on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        meta, status = pod["metadata"], pod.get("status") or {}
        key = (meta["namespace"], meta["name"])
        ip = str(status.get("podIP") or "")
        serving = (
            kind != "DELETED"
            and not meta.get("deletionTimestamp")
            and status.get("phase") == "Running"
            and bool(ip)
            and ipaddress.ip_address(ip) in self.network
        )
        old_ip = self.keys.get(key)
        if old_ip is not None and (not serving or old_ip != ip):
            await self._unbind(old_ip)
        if not serving:
            return
        if key not in self.keys:
            await self._bind(pod_info(pod))
        if self.patch_ready and not _reports_ready(pod):
            await self._patch_ready(pod)

    async def _patch_ready(self, pod: dict[str, Any]) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod["spec"].get("containers") or []
        ]
        conditions = [
            {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
            for t in ("ContainersReady", "Ready")
        ]
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        try:
            await self.api.request(
                "PATCH",
                path,
                {"status": {"conditions": conditions, "containerStatuses": statuses}},
                content_type="application/strategic-merge-patch+json",
            )
            self.patches += 1
        except ApiFailure as exc:
            log.debug("status patch of %s/%s failed: %s", meta["namespace"], meta["name"], exc)

    async def watch(self, selector: str) -> None:
        """List, then watch from the list's resourceVersion; re-list on 410 Gone or a broken stream."""
        while True:
            try:
                listed = await self.api.request("GET", "/api/v1/pods", params={"labelSelector": selector})
                seen = set()
                for pod in listed.get("items", []):
                    seen.add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
                    await self.on_pod("ADDED", pod)
                for key in [k for k in self.keys if k not in seen]:
                    await self._unbind(self.keys[key])
                rv = listed["metadata"]["resourceVersion"]
                async for kind, pod in self.api.watch("/api/v1/pods", selector, rv):
                    await self.on_pod(kind, pod)
            except (ApiFailure, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("pod watch restarts: %s", exc)
                await asyncio.sleep(1.0)


def _reports_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    containers = status.get("containerStatuses") or []
    names = {c["name"] for c in pod["spec"].get("containers") or []}
    ready = {c.get("name") for c in containers if c.get("ready") and c.get("started")}
    return conds.get("Ready") == "True" and conds.get("ContainersReady") == "True" and names <= ready


# ----- a minimal API client (aiohttp; kubeconfig read by the official loader) ------------------------


class ApiFailure(Exception):
    pass


class Api:
    def __init__(self, kubeconfig: str | None) -> None:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        cfg = kclient.Configuration()
        kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
        self.host = cfg.host.rstrip("/")
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        self.ssl = ctx
        token = cfg.get_api_key_with_prefix("authorization")
        self.headers = {"Authorization": token} if token else {}
        self.session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl, limit=8))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {**self.headers, "Content-Type": content_type}
        data = None if body is None else json.dumps(body)
        timeout = aiohttp.ClientTimeout(total=30)
        async with self._http().request(
            method, self.host + path, data=data, params=params, headers=headers, timeout=timeout
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise ApiFailure(f"{method} {path}: {resp.status} {text[:200]}")
            return json.loads(text) if text else None

    async def watch(self, path: str, selector: str, rv: str) -> Any:
        params = {
            "watch": "1",
            "labelSelector": selector,
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "290",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=320)
        async with self._http().get(
            self.host + path, params=params, headers=self.headers, timeout=timeout
        ) as resp:
            if resp.status >= 300:
                raise ApiFailure(f"watch {path}: {resp.status}")
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    raise ApiFailure(f"watch {path}: {obj.get('message')}")
                if kind == "BOOKMARK":
                    continue
                yield kind, obj


async def _main(args: argparse.Namespace) -> int:
    api = Api(str(args.kubeconfig) if args.kubeconfig else None)
    server = Server(api, args.cidr, tuple(args.ports), args.patch_ready)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(server.watch(args.selector))

    async def report() -> None:
        while True:
            if args.state_file:
                state = {"pid": os.getpid(), "pods": len(server.pods), "requests": server.requests}
                state["patches"] = server.patches
                tmp = Path(str(args.state_file) + ".tmp")
                tmp.write_text(json.dumps(state))
                tmp.replace(args.state_file)
            await asyncio.sleep(1.0)

    reporter = asyncio.create_task(report())
    log.info("lightweight runtime serving %s on ports %s", args.cidr, args.ports)
    await stop.wait()
    for task in (watcher, reporter):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await server.stop()
    await api.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cocoon_dev.runtime.lightweight", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument("--cidr", default="127.100.0.0/16", help="only pod IPs inside this range are served")
    parser.add_argument("--ports", type=int, nargs="+", default=list(DEFAULT_PORTS))
    parser.add_argument("--selector", default=WORKER_SELECTOR, help="label selector of the served pods")
    parser.add_argument(
        "--patch-ready", action="store_true", help="patch pods Ready like the process runtime"
    )
    parser.add_argument("--state-file", type=Path, default=None, help="JSON counters, rewritten every second")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
