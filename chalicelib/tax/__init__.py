"""Tax: rates by zone and tax class, and the totals of a basket or an order (tax and shipping included)."""
