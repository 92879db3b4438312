"""Promotion codes: staff define them, shoppers apply them to a basket, checkouts redeem them."""
