"""Runs: what was asked to happen, how it went, its live log; the executors that carry it out."""
