"""harlens: recordings."""
