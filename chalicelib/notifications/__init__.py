"""Notifications: what a shopper (or staff) is told about their orders and the shop."""
