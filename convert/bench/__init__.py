"""Measurement helpers for `causalc bench` and benchmarks/: timing, spec families, the measures."""
