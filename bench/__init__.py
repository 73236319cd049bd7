"""Benchmarks run by hand (``python -m bench.<name>``); each prints a Markdown table and writes JSON."""
