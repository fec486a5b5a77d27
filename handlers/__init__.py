"""Thin Slack listeners, one module per workflow (named by its `workflow.py`), each with a
`register(app, deps)` that bot/factory.py calls. Shared listener helpers: actors (who is
asking), forms (reading modal state), replies (errors into what the user sees)."""
