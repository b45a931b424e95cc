"""Benchmarks: ratios against the fastest known way, measured in the same run."""
