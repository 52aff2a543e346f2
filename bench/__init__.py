"""Benchmarks (not tests): `python -m bench.scale --nodes N`; see bench/README.md."""
