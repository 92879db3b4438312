"""The API about itself: health, its OpenAPI document and a browsable page of it."""
