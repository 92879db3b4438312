"""Shipping methods: where they deliver, what they cost in each currency, and which one a basket may use."""
