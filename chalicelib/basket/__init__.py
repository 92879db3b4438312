"""The basket: what a shopper intends to buy, priced from the catalogue on every read."""
