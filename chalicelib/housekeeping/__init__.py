"""Scheduled housekeeping: nothing accepted is lost, nothing reserved is held forever."""
