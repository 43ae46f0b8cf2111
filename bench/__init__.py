"""Benchmark of the contacts module: deterministic data, page timings, import rate."""
