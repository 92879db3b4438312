"""Basket rules: catalogue prices only, bounded lines and quantities, one currency."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.basket.models import MAX_LINES, BasketLine, BasketOut
from chalicelib.basket.repository import BasketChanged, BasketRepository, StoredBasket
from chalicelib.catalogue.models import Product
from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core.errors import Conflict, NotFound, still_changing
from chalicelib.core.ids import iso, now
from chalicelib.core.lines import Line
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings
from chalicelib.promotions.models import PromotionSeen
from chalicelib.promotions.repository import PromotionRepository
from chalicelib.users import account_status
from chalicelib.users.repository import AccountInactive

_ATTEMPTS = 3


def price_lines(basket: StoredBasket, products: dict[str, Product], promotion: PromotionSeen | None = None,
                at: str | None = None) -> BasketOut:
    """Price a basket from the catalogue as it is now; archived or vanished products, and products
    re-priced in another currency than the basket's, are flagged and left out of the subtotal.
    Its promotion code (read with the products) is judged on that subtotal at `at` (now)."""
    lines, subtotal, currency = [], 0, None
    for held in basket.lines:
        product = products.get(held.product_id)
        available = product is not None and product.status == "ACTIVE" and (
            basket.currency is None or product.currency == basket.currency)
        line = BasketLine.priced(held, product.name if product else "(no longer sold)",
                                 product.price if product else 0, available)
        if available:
            subtotal += line.line_total
            currency = product.currency
        lines.append(line)
    applied = promotion.applied(at=at or iso(), subtotal=subtotal, currency=currency or basket.currency) \
        if promotion is not None else None
    discount = applied.discount if applied else 0
    return BasketOut(items=lines, subtotal=subtotal, currency=currency or basket.currency,
                     updated_at=basket.updated_at, promotion=applied, discount=discount, total=subtotal - discount)


def read_for_pricing(products: ProductRepository, promotions: PromotionRepository, basket: StoredBasket,
                     product_ids: list[str], also: list[tuple[str, str]] | None = None
                     ) -> tuple[dict[str, Product], PromotionSeen | None, dict[tuple[str, str], dict]]:
    """The products a basket needs and, when it holds a code, the promotion and the customer's marker,
    in the same BatchGetItem calls, with `also` (other items by key, answered as stored)."""
    if not basket.promotion_code and not also:
        return (products.get_many(product_ids) if product_ids else {}), None, {}
    code = basket.promotion_code
    seen_keys = promotions.seen_keys(code, basket.user_id) if code else []
    found, others = products.get_many_with(product_ids, seen_keys + list(also or []))
    return found, (promotions.seen_from(code, basket.user_id, others) if code else None), others


class BasketService:
    def __init__(self, baskets: BasketRepository, products: ProductRepository, promotions: PromotionRepository):
        self.baskets = baskets
        self.products = products
        self.promotions = promotions

    def view(self, user_id: str) -> BasketOut:
        basket = self.baskets.get(user_id)
        return price_lines(basket, *self._priced(basket))

    def _priced(self, basket: StoredBasket, also: set[str] = frozenset()
                ) -> tuple[dict[str, Product], PromotionSeen | None]:
        return read_for_pricing(self.products, self.promotions, basket,
                                sorted(set(basket.lines.product_ids()) | set(also)))[:2]

    def apply_promotion(self, user_id: str, code: str) -> BasketOut:
        """Put a code on the basket if it discounts it now; one answer (409 PROMOTION_NOT_APPLICABLE) for every
        code that does not, unknown or not, so codes cannot be found by asking. Each such code counts against
        the customer (PROMOTION_GUESSES); past the free ones they wait (429). One read of the basket, one of
        its products with the code and the customer's counter, one conditional write."""
        from chalicelib.promotions.service import guesses_of, not_applicable

        guesses = guesses_of(user_id)

        def read() -> tuple[StoredBasket, dict[str, Product], PromotionSeen | None]:
            basket = self.baskets.get(user_id)
            basket.promotion_code = code
            products, promotion, counters = read_for_pricing(
                self.products, self.promotions, basket, sorted(basket.lines.product_ids()), also=guesses.wanted())
            guesses.check(counters, "Too many promotion codes that do not apply; try again later.")
            return basket, products, promotion

        def write(seen: tuple[StoredBasket, dict[str, Product], PromotionSeen | None]) -> BasketOut:
            basket, products, promotion = seen
            priced = price_lines(basket, products, promotion)
            if priced.promotion is None or priced.promotion.issue:
                guesses.failed()
                raise not_applicable()
            self._save(basket)
            return priced.model_copy(update={"updated_at": basket.updated_at})

        return read_then_write(read, write, lost=BasketChanged, attempts=_ATTEMPTS,
                               gave_up=still_changing("The basket"))

    def remove_promotion(self, user_id: str) -> None:
        def read() -> StoredBasket:
            return self.baskets.get(user_id)

        def write(basket: StoredBasket) -> None:
            if basket.promotion_code is not None:
                basket.promotion_code = None
                self._save(basket)

        read_then_write(read, write, lost=BasketChanged, attempts=_ATTEMPTS,
                        gave_up=still_changing("The basket"))

    def set_quantity(self, user_id: str, product_id: str, quantity: int) -> BasketOut:
        """One read of the basket, one of its products (the line's own among them), one conditional
        write; the answer is priced from the products already read."""
        def read() -> tuple[StoredBasket, dict[str, Product], PromotionSeen | None]:
            basket = self.baskets.get(user_id)
            return (basket, *self._priced(basket, {product_id} if quantity else set()))

        def write(seen: tuple[StoredBasket, dict[str, Product], PromotionSeen | None]) -> BasketOut:
            basket, products, promotion = seen
            line = Line(product_id=product_id, quantity=quantity)
            if quantity == 0:
                if line.key not in basket.lines:
                    return price_lines(basket, products, promotion)
                basket.lines = basket.lines.without(line.key)
                if not basket.lines:
                    basket.currency = None  # as stored
            else:
                product = products.get(product_id)
                self._check_can_add(product_id, product, quantity)
                if line.key not in basket.lines and len(basket.lines) >= MAX_LINES:
                    raise Conflict(f"A basket holds at most {MAX_LINES} different products.", code="BASKET_FULL")
                if basket.lines and basket.currency and basket.currency != product.currency:
                    raise Conflict("Every product in a basket must be priced in the same currency.",
                                   code="CURRENCY_MISMATCH")
                basket.lines = basket.lines.setting(line)
                basket.currency = product.currency
            self._save(basket)  # conditioned on the version read: a concurrent change reads both again
            return price_lines(basket, products, promotion)

        return read_then_write(read, write, lost=BasketChanged, attempts=_ATTEMPTS,
                               gave_up=still_changing("The basket"))

    def erase_for(self, user_id: str) -> None:
        """Erasure: the basket goes, whatever it holds."""
        self.baskets.delete(user_id)

    def clear(self, user_id: str) -> None:
        try:
            self.baskets.empty(user_id)
        except AccountInactive:
            raise account_status.inactive(user_id) from None

    def _save(self, basket: StoredBasket) -> None:
        expires = now() + timedelta(days=settings().basket_ttl_days)
        try:
            self.baskets.save(basket, iso(), int(expires.timestamp()), iso(expires))
        except AccountInactive:
            raise account_status.inactive(basket.user_id) from None

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
