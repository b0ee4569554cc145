"""Benchmarks of issue 3 (send throughput/latency, fan-out, idle memory); see docs/performance.md.

Run everything with `make bench` (`python -m bench.run_all`, `--quick` for a short run).
"""
