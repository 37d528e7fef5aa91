"""Benchmarks (`make bench`): speed and memory of the parts that must keep up."""
