"""harlens: retrieval."""
