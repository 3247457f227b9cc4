"""rt's benchmarks: ``python -m tools.bench`` (see ``__main__`` and README.md here)."""
