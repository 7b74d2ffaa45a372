"""harlens: prompts."""
