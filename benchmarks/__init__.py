"""harlens: benchmarks."""
