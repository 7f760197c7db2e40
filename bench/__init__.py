"""`make bench`: Pixtier measured side by side with baselines; writes BENCHMARKS.md."""
