"""The local runtime: the part of a kubelet that KWOK does not simulate, and its entry point.

KWOK binds pod IPs (from the cluster's pod CIDR in 127.0.0.0/8, bindable loopback addresses) and
marks pods Running, but runs nothing. This process watches COCOON worker pods (label
`app.kubernetes.io/name=cocoon-worker`) that KWOK has made Running with a pod IP, and serves them:

- full mode (pods on nodes annotated `kwok.x-k8s.io/node=fake`): real processes bound to the pod IP,
  one `PodRuntime` per pod (pod.py): volumes, init containers, containers with probes and restarts
  (container.py, probes.py), what runs for each container (launch.py: Triton + the OpenAI front, the
  runner simulator), status written as a kubelet writes it (pod_status.py);
- light mode (benchmarks with many pods): in-process stand-ins, one process for every pod (light.py).

KWOK and this runtime do not fight: KWOK's pod-ready stage only matches pods in phase Pending; this
runtime only touches pods that are Running, and never changes the phase or the pod IP.
See docs/local-runtime.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from cocoon_dev import procs
from cocoon_dev.paths import component_dir
from cocoon_dev.runtime.light import LightRuntime
from cocoon_dev.runtime.options import RuntimeOptions
from cocoon_dev.runtime.pod import PodRuntime
from cocoon_dev.runtime.pods import fake_nodes, in_network, key_of, pod_informer, write_state
from cocoon_operator.k8s import KubeClient
from cocoon_operator.k8s.config import load

log = logging.getLogger("cocoon_dev.runtime")

NODES_REFRESH_S = 10.0


class Kubelet:
    """Full mode: a PodRuntime for every served pod, started and stopped as the pod watch says."""

    def __init__(self, options: RuntimeOptions, kube: KubeClient) -> None:
        self.options = options
        self.kube = kube
        self.watch = pod_informer(kube, in_network(options.cidr))
        self.pods: dict[str, PodRuntime] = {}  # by uid
        self._fake_nodes: set[str] = set()
        self._nodes_at = -1e9

    async def sync(self) -> None:
        loop = asyncio.get_running_loop().time()
        if loop - self._nodes_at > NODES_REFRESH_S:
            self._fake_nodes = await fake_nodes(self.kube)
            self._nodes_at = loop
        wanted = {
            u: p for u, p in self.watch.objects.items() if p["spec"].get("nodeName") in self._fake_nodes
        }
        for uid in [u for u in self.pods if u not in wanted]:
            await self.pods.pop(uid).stop()
        for uid, pod in wanted.items():
            if uid in self.pods:
                self.pods[uid].pod["metadata"] = pod["metadata"]
                if self.pods[uid].last_patch is None:
                    self.pods[uid].pod["status"] = pod.get("status") or {}
                continue
            if any(p.ip == pod["status"]["podIP"] for p in self.pods.values()):
                continue  # the old pod with this IP is still stopping
            pod_rt = PodRuntime(self, pod)
            self.pods[uid] = pod_rt
            pod_rt.task = asyncio.create_task(self._guard(pod_rt), name=f"pod-{key_of(pod)}")
            log.info("Running pod %s on %s", pod_rt.key, pod_rt.ip)
        self.write_state()

    async def _guard(self, pod_rt: PodRuntime) -> None:
        try:
            await pod_rt.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Pod %s failed in the runtime", pod_rt.key)

    def write_state(self) -> None:
        pods = {
            p.key: {"uid": uid, "ip": p.ip, "dir": str(p.dir), "procs": p.identities()}
            for uid, p in self.pods.items()
        }
        write_state(self.options.state_dir, "full", pods)

    async def run(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self.watch.run(), name="pod-watch")
        try:
            while not stop.is_set():
                try:
                    await self.sync()
                except Exception as exc:  # the API server may be restarting
                    log.warning("Pod sync failed: %s", exc)
                # Woken by the watch; now and then anyway (container processes change the state file).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.watch.changed.wait(), self.options.poll_interval_s)
                self.watch.changed.clear()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            pods = list(self.pods.values())
            self.pods.clear()
            await asyncio.gather(*(p.stop() for p in pods), return_exceptions=True)
            self.write_state()


# ----- process entry point (`cocoon-dev runtime up` starts this in the background) ---------------


def _from_env_or_home(variable: str, component: str, name: str) -> Path | None:
    env = os.environ.get(variable)
    if env:
        return Path(env)
    path = component_dir(component) / name
    return path if path.exists() else None


def default_kubeconfig() -> Path | None:
    return _from_env_or_home("KUBECONFIG", "cluster", "kubeconfig")


def default_network_json() -> Path | None:
    """The dev chain's network.json (`cocoon-dev chain up` writes it), if there is one."""
    return _from_env_or_home("COCOON_DEV_NETWORK_JSON", "chain", "network.json")


def default_ton_config() -> Path | None:
    return _from_env_or_home("COCOON_DEV_TON_CONFIG", "chain", "global-config.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cocoon-dev-kubelet", description="cocoon-dev local process runtime")
    p.add_argument("--kubeconfig", type=Path, default=None)
    p.add_argument("--mode", choices=["full", "light"], default="full")
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--cidr", default=None, help="only pod IPs inside this range (default: any)")
    p.add_argument(
        "--network", type=Path, default=None, help="dev chain network.json for the runner simulator"
    )
    p.add_argument("--ton-config", type=Path, default=None, help="TON global config of the dev chain")
    p.add_argument("--no-chain", action="store_true", help="runner simulators use the fake chain")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between looks without news")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s cocoon-dev-kubelet %(levelname)s %(message)s",
    )
    options = RuntimeOptions(
        kubeconfig=args.kubeconfig or default_kubeconfig(),
        mode=args.mode,
        cidr=args.cidr,
        poll_interval_s=args.poll_interval,
        network_json=None if args.no_chain else args.network or default_network_json(),
        ton_config=args.ton_config or default_ton_config(),
    )
    if args.state_dir is not None:
        options.state_dir = args.state_dir
    options.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        connection = load(str(options.kubeconfig) if options.kubeconfig else None)
    except Exception as exc:  # kubeconfig missing or invalid
        print(f"cocoon-dev-kubelet: cannot use the kubeconfig {options.kubeconfig}: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = procs.stop_on_signals()
        async with KubeClient(connection) as kube:
            if options.mode == "light":
                log.info("light mode: in-process stand-ins for %s", options.cidr or "every pod IP")
                # An idle runner per pod: its per-pod start-up lines would drown the runtime's own.
                logging.getLogger("cocoon_dev.runner_sim").setLevel(logging.WARNING)
                await LightRuntime(kube, options.state_dir, options.cidr).run(stop)
            else:
                await Kubelet(options, kube).run(stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
