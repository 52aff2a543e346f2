"""Local Kubernetes control plane for the dev stack.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (the simulated kubelet) run as
detached processes on 127.0.0.1, built from Go modules by `tools/build-testenv.sh`. A fleet of fake
confidential GPU nodes is declared in YAML profiles (`fleets/`).
"""
