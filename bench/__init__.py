"""Benchmarks: `python -m bench.<name>` prints a table and writes CSV under bench/results/."""
