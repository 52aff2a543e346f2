"""`kubectl cocoon`: the fleet and its money from a terminal, against any kubeconfig.

`fleet`, `earnings`, `claim`, `pause`/`resume`, `sweep` (docs/kubectl-cocoon.md). Reads CocoonNodes
through the Kubernetes API, the operator's metrics (traffic counters) through the API server's
service proxy, and the chain through the liteservers of each CocoonNode's TON global config. It
never reads a Secret: no key can reach its output.
"""
