"""The operator's TON layer: what it reads from and writes to the chain, and the client it uses.

- codecs: `cells` (primitives), `ops` (op and error codes, states), `storage` (contract data),
  `messages` (bodies), `wallet_messages` (wallet externals), `addresses` (StateInit-derived addresses);
- `client` (cross-checked liteserver reads, hash-chained transaction scans), `codes` (the official
  contract code and its hashes), `root`, `worker_contracts`, `payouts`, `identity` (reads).

What only the dev stack needs (root-owner operations, signing vouchers as a proxy) lives in
`cocoon_dev.ton`. No kopf and no Kubernetes here (import-linter contract); amounts are nanoTON
integers.
"""
