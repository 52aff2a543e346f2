"""Light mode of the local runtime (benchmarks with many worker pods): ONE process answers for every pod.

No subprocesses and no Triton. One aiohttp application per port serves every pod IP (a site per IP;
a handler knows its pod from the local address), so a pod costs a few listening sockets and one small
object:

- Triton health on 8000 (`/v2/health/live|ready`, `/v2/models/<m>[/versions/<v>]/ready`, `/v2`);
- a minimal Prometheus `/metrics` on 8002 and `/v1/models` on the OpenAI front port 9000;
- the runner's `GET /jsonstats` on 12000, written by the runner simulator's own code for an idle
  runner on the fake chain (so the shape, key order and quirks are exactly the simulator's).

Pods come from the runtime's pod watch (pods.py); once a pod's listeners are bound its status is
patched Ready, and only when the pod does not already say so (no writes that change nothing). A pod
IP that something else already listens on is reported as the full runtime does (`PodIPInUse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from cocoon_dev.runtime import pod_status
from cocoon_dev.runtime.pods import Pod, in_network, ip_in_use_message, key_of, pod_informer, write_state
from cocoon_dev.runtime.runner_sim import jsonout
from cocoon_dev.runtime.runner_sim.chain import FakeTonChain
from cocoon_dev.runtime.runner_sim.config import WorkerConfig
from cocoon_dev.runtime.runner_sim.runner import Runner, RunnerSettings
from cocoon_dev.runtime.runner_sim.web_api import jsonstats
from cocoon_operator.k8s import ApiError, KubeClient

log = logging.getLogger("cocoon_dev.runtime.light")

TRITON_HTTP, TRITON_METRICS, OPENAI_FRONT, RUNNER_HTTP = 8000, 8002, 9000, 12000
PORTS = (TRITON_HTTP, TRITON_METRICS, OPENAI_FRONT, RUNNER_HTTP)
STAND_IN_MODEL = "cocoon-dev/stand-in"
# An idle runner's config where the pod spec says nothing (the real one is rendered inside the pod by
# an init container, which light mode does not run): only the shape of /jsonstats matters here.
STAND_IN_CONFIG = {
    "is_test": True,
    "model_name": STAND_IN_MODEL,
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
ROOT_REFRESH_S = 30.0  # how often the idle runner "reads the root" (its TON sync time moves on)


def _env(pod: Pod, name: str) -> str | None:
    for container in pod["spec"].get("containers") or []:
        for item in container.get("env") or []:
            if item.get("name") == name and isinstance(item.get("value"), str):
                return str(item["value"])
    return None


@dataclass
class StandIn:
    """What light mode keeps of one pod: its IP, what it answers with, its listening sites."""

    uid: str
    key: str
    ip: str
    model: str
    config: dict[str, Any]
    sites: list[web.TCPSite] = field(default_factory=list)
    runner: Runner | None = None
    synced_at: float = 0.0

    @classmethod
    def of(cls, pod: Pod) -> StandIn:
        """Read from the pod spec only (no volumes, no API reads: a constant cost per pod)."""
        model = _env(pod, "COCOON_MODEL") or _env(pod, "MODEL_NAME") or STAND_IN_MODEL
        config = dict(STAND_IN_CONFIG, model_name=model)
        if owner := _env(pod, "COCOON_OWNER_ADDRESS"):
            config["owner_address"] = owner
        if coefficient := _env(pod, "COCOON_WORKER_COEFFICIENT"):
            config["coefficient"] = coefficient
        ip = pod["status"]["podIP"]
        config["forward_requests_to"] = f"{ip}:{OPENAI_FRONT}"
        return cls(pod["metadata"]["uid"], key_of(pod), ip, model.split("@", 1)[0], config)

    async def jsonstats(self) -> str:
        """The simulator's /jsonstats of an idle runner: built on first use, its chain view (root,
        wallet, proxy contracts on the fake chain) refreshed like a runner's root reads."""
        if self.runner is None:
            try:
                config = WorkerConfig.from_dict(self.config)
            except ValueError:  # a pod env hint the runner would refuse: the stand-in config
                config = WorkerConfig.from_dict(
                    dict(STAND_IN_CONFIG, forward_requests_to=self.config["forward_requests_to"])
                )
            chain = FakeTonChain(config.owner_address, config.node_wallet_key)
            self.runner = Runner(config, chain, RunnerSettings(request_rate=0, self_claim=False))
            self.runner.state.uplink_ok = True  # its front is this very process
        if time.monotonic() - self.synced_at >= ROOT_REFRESH_S:
            await self.runner.sync_chain()
            self.synced_at = time.monotonic()
        return jsonout.dumps(jsonstats(self.runner))


class LightRuntime:
    """Listeners for every served pod IP, driven by the pod watch."""

    def __init__(self, kube: KubeClient, state_dir: Path, cidr: str | None, ports: tuple[int, ...] = PORTS):
        self.kube = kube
        self.state_dir = state_dir
        self.ports = ports
        self.watch = pod_informer(kube, in_network(cidr))
        self.pods: dict[str, StandIn] = {}  # by uid
        self.by_ip: dict[str, StandIn] = {}
        self.runners: dict[int, web.AppRunner] = {}
        self.requests = 0
        self.patches = 0

    # ----- HTTP -----
    def _pod(self, request: web.Request) -> StandIn | None:
        self.requests += 1
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        return self.by_ip.get(sock[0]) if sock else None

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self._pod(request) else 503)

    async def _meta(self, request: web.Request) -> web.Response:
        self._pod(request)
        return web.json_response(
            {"name": "triton (cocoon-dev light stand-in)", "version": "2.51.0", "extensions": []}
        )

    async def _models(self, request: web.Request) -> web.Response:
        pod = self._pod(request)
        data = [{"id": pod.model if pod else STAND_IN_MODEL, "object": "model", "created": 0,
                 "owned_by": "cocoon-dev light stand-in"}]  # fmt: skip
        return web.json_response({"object": "list", "data": data})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._pod(request)
        return web.Response(text=METRICS, content_type="text/plain")

    async def _jsonstats(self, request: web.Request) -> web.Response:
        pod = self._pod(request)
        if pod is None:
            return web.Response(status=400, text="not found")
        body = await pod.jsonstats()
        return web.Response(
            text=body, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"}
        )

    def _app(self, port: int) -> web.Application:
        app = web.Application()
        add = app.router.add_get
        if port == TRITON_HTTP:
            for path in (
                "/v2/health/live",
                "/v2/health/ready",
                "/v2/models/{m}/ready",
                "/v2/models/{m}/versions/{v}/ready",
            ):
                add(path, self._ok)
            add("/v2", self._meta)
        elif port == TRITON_METRICS:
            add("/metrics", self._metrics)
        elif port == OPENAI_FRONT:
            add("/v1/models", self._models)
            add("/v2/health/ready", self._ok)
        elif port == RUNNER_HTTP:
            add("/jsonstats", self._jsonstats)
        return app

    # ----- pods -----
    async def _bind(self, pod: Pod) -> None:
        stand_in = StandIn.of(pod)
        self.pods[stand_in.uid] = stand_in
        for port, runner in self.runners.items():
            site = web.TCPSite(runner, stand_in.ip, port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                await self._unbind(stand_in.uid)
                if exc.errno == errno.EADDRINUSE:
                    await self._patch(
                        pod,
                        pod_status.waiting_statuses(pod, "PodIPInUse", ip_in_use_message(stand_in.ip, port)),
                    )
                log.warning("Pod %s: cannot bind %s:%d: %s", stand_in.key, stand_in.ip, port, exc)
                return
            stand_in.sites.append(site)
        self.by_ip[stand_in.ip] = stand_in
        if not pod_status.reports_ready(pod):
            await self._patch(pod, pod_status.running_statuses(pod, "cocoon-dev://light"))

    async def _unbind(self, uid: str) -> None:
        stand_in = self.pods.pop(uid, None)
        if stand_in is None:
            return
        if self.by_ip.get(stand_in.ip) is stand_in:
            del self.by_ip[stand_in.ip]
        for site in stand_in.sites:
            with contextlib.suppress(Exception):
                await site.stop()

    async def _patch(self, pod: Pod, statuses: list[dict[str, Any]]) -> None:
        meta = pod["metadata"]
        try:
            await self.kube.patch_status(
                "v1", "Pod", meta["namespace"], meta["name"], pod_status.pod_status(pod, statuses)
            )
            self.patches += 1
        except ApiError as exc:  # the pod is gone, or the API is restarting: the watch brings it back
            log.debug("Status patch of %s failed: %s", key_of(pod), exc)

    async def sync(self) -> None:
        wanted = self.watch.objects
        before = set(self.pods)
        for uid in [
            u for u in self.pods if u not in wanted or wanted[u]["status"]["podIP"] != self.pods[u].ip
        ]:
            await self._unbind(uid)
        for uid, pod in list(wanted.items()):
            if uid not in self.pods:
                await self._bind(pod)
        if set(self.pods) != before:
            pods = {p.key: {"uid": p.uid, "ip": p.ip, "procs": {}} for p in self.pods.values()}
            write_state(self.state_dir, "light", pods)

    async def run(self, stop: asyncio.Event) -> None:
        for port in self.ports:
            runner = web.AppRunner(self._app(port), access_log=None, handle_signals=False)
            await runner.setup()
            self.runners[port] = runner
        write_state(self.state_dir, "light", {})
        watcher = asyncio.create_task(self.watch.run(), name="pod-watch")
        try:
            while not stop.is_set():
                # Woken by the watch; every few seconds anyway, to retry a pod IP that was taken.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.watch.changed.wait(), 5.0)
                self.watch.changed.clear()
                await self.sync()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for uid in list(self.pods):
                await self._unbind(uid)
            for runner in self.runners.values():
                await runner.cleanup()
            write_state(self.state_dir, "light", {})
