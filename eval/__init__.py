"""Measurements: speed and memory benchmarks, retrieval checks on question sets."""
