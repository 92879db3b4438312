"""Basket rules: catalogue prices only, bounded lines and quantities, one currency."""
from __future__ import annotations

import functools
from datetime import timedelta

from chalicelib.basket.models import MAX_LINES, BasketLine, BasketOut
from chalicelib.basket.repository import BasketChanged, BasketRepository, StoredBasket
from chalicelib.catalogue.models import Product
from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.ids import iso, now
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings

_ATTEMPTS = 3


def price_lines(basket: StoredBasket, products: dict[str, Product]) -> BasketOut:
    """Price a basket from the catalogue as it is now; archived or vanished products, and products
    re-priced in another currency than the basket's, are flagged and left out of the subtotal."""
    lines, subtotal, currency = [], 0, None
    for product_id, quantity in basket.lines.items():
        product = products.get(product_id)
        available = product is not None and product.status == "ACTIVE" and (
            basket.currency is None or product.currency == basket.currency)
        unit_price = product.price if product else 0
        line = BasketLine(product_id=product_id, name=product.name if product else "(no longer sold)",
                          unit_price=unit_price, quantity=quantity, line_total=unit_price * quantity,
                          available=available)
        if available:
            subtotal += line.line_total
            currency = product.currency
        lines.append(line)
    return BasketOut(items=lines, subtotal=subtotal, currency=currency or basket.currency,
                     updated_at=basket.updated_at)


class BasketService:
    def __init__(self, baskets: BasketRepository | None = None, products: ProductRepository | None = None):
        self.baskets = baskets or BasketRepository()
        self.products = products or ProductRepository()

    def view(self, user_id: str) -> BasketOut:
        basket = self.baskets.get(user_id)
        products = self.products.get_many(list(basket.lines)) if basket.lines else {}
        return price_lines(basket, products)

    def set_quantity(self, user_id: str, product_id: str, quantity: int) -> BasketOut:
        """One read of the basket, one of its products (the line's own among them), one conditional
        write; the answer is priced from the products already read."""
        def read() -> tuple[StoredBasket, dict[str, Product]]:
            basket = self.baskets.get(user_id)
            wanted = set(basket.lines) | ({product_id} if quantity else set())
            return basket, self.products.get_many(sorted(wanted)) if wanted else {}

        def write(seen: tuple[StoredBasket, dict[str, Product]]) -> BasketOut:
            basket, products = seen
            if quantity == 0:
                if product_id not in basket.lines:
                    return price_lines(basket, products)
                basket.lines.pop(product_id)
                if not basket.lines:
                    basket.currency = None  # as stored
            else:
                product = products.get(product_id)
                self._check_can_add(product_id, product, quantity)
                if product_id not in basket.lines and len(basket.lines) >= MAX_LINES:
                    raise Conflict(f"A basket holds at most {MAX_LINES} different products.", code="BASKET_FULL")
                if basket.lines and basket.currency and basket.currency != product.currency:
                    raise Conflict("Every product in a basket must be priced in the same currency.",
                                   code="CURRENCY_MISMATCH")
                basket.lines[product_id] = quantity
                basket.currency = product.currency
            self._save(basket)  # conditioned on the version read: a concurrent change reads both again
            return price_lines(basket, products)

        return read_then_write(read, write, lost=BasketChanged, attempts=_ATTEMPTS,
                               gave_up=lambda: Conflict("The basket changed while it was being updated; try again.",
                                                        code="CONCURRENT_CHANGE"))

    def erase_for(self, user_id: str) -> None:
        """Erasure: the basket goes, whatever it holds."""
        self.baskets.delete(user_id)

    def clear(self, user_id: str) -> None:
        self.baskets.delete(user_id)

    def _save(self, basket: StoredBasket) -> None:
        expires = now() + timedelta(days=settings().basket_ttl_days)
        self.baskets.save(basket, iso(), int(expires.timestamp()), iso(expires))

    @staticmethod
    def _check_can_add(product_id: str, product: Product | None, quantity: int) -> None:
        if product is None:
            raise NotFound(f"Product {product_id} was not found.")
        if product.status != "ACTIVE":
            raise Conflict("This product is no longer sold.", code="PRODUCT_UNAVAILABLE")
        if quantity > product.stock:
            raise Conflict(f"Only {product.stock} in stock.",
                           [{"field": "quantity", "issue": "insufficient_stock",
                             "message": f"at most {product.stock} available"}], code="INSUFFICIENT_STOCK")


@functools.lru_cache(maxsize=1)
def basket_service() -> BasketService:
    return BasketService()
