"""Benchmarks (`make bench`): they report numbers; they are not tests."""
