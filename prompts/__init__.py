"""Prompt templates (one file each, `$name` placeholders). Rendered by agent.prompting; no logic here."""
