"""Audit: an append-only record of who changed what, when, and from which request."""
