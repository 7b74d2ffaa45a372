"""harlens: harlens."""
