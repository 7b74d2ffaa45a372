"""harlens: agent."""
