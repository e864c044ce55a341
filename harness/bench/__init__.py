"""Benchmarks: each module here defines ``run() -> list[dict]``; ``harness bench`` prints and saves them."""
