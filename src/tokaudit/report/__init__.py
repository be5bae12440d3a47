"""Breakdowns (queries that return dataclasses) and renderers (formats that return text)."""
