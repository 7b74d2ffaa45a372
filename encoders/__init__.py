"""harlens: encoders."""
