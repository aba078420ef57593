"""Benchmarks: `python -m bench` (see bench/__main__.py). They print figures, never assert."""
