"""Orders service: a small HTTP API for placing and reading customer orders."""

__version__ = "1.4.0"
