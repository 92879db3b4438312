"""Orders: created from accepted checkouts, moved through a strict state machine."""
