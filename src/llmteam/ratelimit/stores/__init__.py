"""ratelimit backends: one module per database (see the package docstring of llmteam.backends)."""
