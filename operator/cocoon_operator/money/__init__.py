"""Money that the operator moves or records: one write-ahead discipline for all of it.

- `records`: the only way a money record (a funding, sweep or claim intent; the claim ledger) reaches
  the CocoonNode status — a fresh read, then a merge patch guarded by resourceVersion; a conflict
  means another writer acted, so the caller stops before its action and decides again next time.
- `transfer`: what every wallet transfer the operator signs (treasury → cocoon wallet, cocoon wallet
  → owner) has in common — the chain decides whether it was sent, is still in flight, or can never
  apply, from cross-checked reads and scans that know their gaps.
"""
