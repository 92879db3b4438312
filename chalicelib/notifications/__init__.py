"""Notifications: what a shopper (or staff) is told about their orders, their account and the shop."""

# The event types that become notifications (app.py binds the bus rule to the same list).
NOTIFIED_EVENTS = ("OrderCreated", "OrderStatusChanged", "ShipmentCreated", "LowStock", "MfaChanged", "SignUpRepeated")
