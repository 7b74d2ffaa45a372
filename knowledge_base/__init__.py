"""harlens: knowledge_base."""
