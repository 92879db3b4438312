"""Key design of catalogue items (see docs/access-patterns.md)."""
from __future__ import annotations

ALL_PRODUCTS = "PRODUCTS"


def product_pk(product_id: str) -> str:
    return f"PRODUCT#{product_id}"


PRODUCT_SK = "PRODUCT"


def category_partition(category: str) -> str:
    return f"CATEGORY#{category}"


def listing_sort_key(name: str, product_id: str) -> str:
    # Name first so pages come back alphabetically; the id keeps equal names distinct.
    return f"{name.lower()[:200]}#{product_id}"


def listing_keys(name: str, category: str, product_id: str) -> dict[str, str]:
    """Index keys that make an ACTIVE product visible in the category and full listings."""
    sort_key = listing_sort_key(name, product_id)
    return {"GSI1PK": category_partition(category), "GSI1SK": sort_key,
            "GSI2PK": ALL_PRODUCTS, "GSI2SK": sort_key}
