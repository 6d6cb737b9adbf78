"""Benchmarks of the batch grader (see benchmarks/README.md)."""
