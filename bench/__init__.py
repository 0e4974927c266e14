"""The planner benchmark: ``python bench/run.py`` (``make bench``). See docs/benchmarks.md."""
