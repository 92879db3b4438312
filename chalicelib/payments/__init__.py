"""Payments: the provider's signed webhook, verified and applied once per provider event."""
