"""harlens: recordings/readers."""
