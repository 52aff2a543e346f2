"""Reward claims: when to claim (policy) and an exactly-once record of claims (ledger).

Pure logic only: no chain, HTTP, Kubernetes or kopf imports. The reconcile layer gathers the facts
(runner `/jsonstats`, worker contract `tokens`, owner payout transactions) and persists the ledger
record in the CocoonNode status.
"""
