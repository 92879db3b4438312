"""Returns: customers send back what was delivered; staff receive (restock and refund) or reject it."""
