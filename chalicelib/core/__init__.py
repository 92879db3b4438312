"""Shared core: settings, errors, HTTP helpers, auth claims, DynamoDB access, events."""
