"""The catalogue: products, their prices and their stock."""
