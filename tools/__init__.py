"""Maintenance scripts: python -m tools.<name>."""
