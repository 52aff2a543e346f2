"""The operator's TON layer: COCOON cell layouts, addresses, vouchers and wallet messages.

No kopf and no Kubernetes here (import-linter contract); amounts are nanoTON integers.
"""
