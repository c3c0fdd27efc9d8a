"""Benchmarks of the service's hot paths beside hand-written baselines (`make bench`)."""
