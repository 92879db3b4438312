"""Basket rules: catalogue prices only, bounded lines and quantities, one currency."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.basket.models import MAX_LINES, BasketLine, BasketOut
from chalicelib.basket.repository import BasketChanged, BasketRepository, StoredBasket
from chalicelib.catalogue import keys as catalogue_keys
from chalicelib.catalogue.models import Product, Variant
from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core.errors import BadRequest, Conflict, NotFound, still_changing
from chalicelib.core.ids import iso, now
from chalicelib.core.lines import Line
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings
from chalicelib.promotions.models import PromotionSeen
from chalicelib.promotions.repository import PromotionRepository
from chalicelib.users import account_status
from chalicelib.users.repository import AccountInactive

_ATTEMPTS = 3


def basket_currency(basket: StoredBasket) -> str:
    return basket.currency or settings().default_currency


def price_lines(basket: StoredBasket, products: dict[str, Product], promotion: PromotionSeen | None = None,
                at: str | None = None) -> BasketOut:
    """Price a basket from the catalogue as it is now, in the basket's currency; lines whose variant or product
    is no longer sold, or has no price in that currency, are flagged and left out of the subtotal. Its
    promotion code (read with the products) is judged on that subtotal at `at` (now)."""
    currency = basket_currency(basket)
    lines, subtotal = [], 0
    for held in basket.lines:
        product = products.get(held.product_id)
        variant = product.variant(held.key) if product else None
        price = variant.price_in(currency) if variant else None
        available = price is not None and product.status == variant.status == "ACTIVE"
        line = BasketLine.priced(held, product.name if product else "(no longer sold)", price or 0, available=available,
                                 sku=variant.sku if variant else None, options=variant.options if variant else None)
        if available:
            subtotal += line.line_total
        lines.append(line)
    applied = promotion.applied(at=at or iso(), subtotal=subtotal, currency=currency) \
        if promotion is not None else None
    discount = applied.discount if applied else 0
    return BasketOut(items=lines, subtotal=subtotal, currency=currency, updated_at=basket.updated_at,
                     promotion=applied, discount=discount, total=subtotal - discount)


def read_for_pricing(products: ProductRepository, promotions: PromotionRepository, basket: StoredBasket,
                     product_ids: list[str], also: list[tuple[str, str]] | None = None,
                     stock_of: list[str] | None = None
                     ) -> tuple[dict[str, Product], PromotionSeen | None, dict[tuple[str, str], dict]]:
    """The products a basket needs (with the stock of the variants `stock_of` names) and, when it holds a code,
    the promotion and the customer's marker, in the same BatchGetItem calls, with `also` (other items by key,
    answered as stored)."""
    if not product_ids and not basket.promotion_code and not also:
        return {}, None, {}
    code = basket.promotion_code
    seen_keys = promotions.seen_keys(code, basket.user_id) if code else []
    found, others = products.get_many_with(product_ids, seen_keys + list(also or []), stock_of=stock_of or ())
    return found, (promotions.seen_from(code, basket.user_id, others) if code else None), others


class BasketService:
    def __init__(self, baskets: BasketRepository, products: ProductRepository, promotions: PromotionRepository):
        self.baskets = baskets
        self.products = products
        self.promotions = promotions

    def view(self, user_id: str) -> BasketOut:
        basket = self.baskets.get(user_id)
        return price_lines(basket, *self._priced(basket))

    def _priced(self, basket: StoredBasket, also: set[str] = frozenset(), stock_of: list[str] | None = None
                ) -> tuple[dict[str, Product], PromotionSeen | None]:
        return read_for_pricing(self.products, self.promotions, basket,
                                sorted(set(basket.lines.product_ids()) | set(also)), stock_of=stock_of)[:2]

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

    def set_quantity(self, user_id: str, item_id: str, quantity: int) -> BasketOut:
        """`item_id` names a variant (or a product of one variant). One read of the basket, one of its products
        with the new line's (and its stock), one conditional write; the answer is priced from what was read."""
        def read() -> tuple[StoredBasket, dict[str, Product], PromotionSeen | None]:
            basket = self.baskets.get(user_id)
            if quantity == 0:
                return (basket, *self._priced(basket))
            priced = self._priced(basket, {catalogue_keys.product_of(item_id)}, stock_of=[item_id])
            named = priced[0].get(item_id)
            if named is not None and len(named.variants) == 1 and named.variants[0].id != item_id:
                # a product of one variant named by its own id, its variant having an id of its own: that stock
                priced = self._priced(basket, {item_id}, stock_of=[named.variants[0].id])
            return (basket, *priced)

        def write(seen: tuple[StoredBasket, dict[str, Product], PromotionSeen | None]) -> BasketOut:
            basket, products, promotion = seen
            if quantity == 0:
                held = next((line for line in basket.lines if item_id in (line.key, line.product_id)), None)
                if held is None:
                    return price_lines(basket, products, promotion)
                basket.lines = basket.lines.without(held.key)
            else:
                product, variant = _variant_named(products, item_id)
                line = Line(product_id=product.id, quantity=quantity, variant_id=variant.id)
                self._check_can_add(product, variant, quantity, basket_currency(basket))
                if line.key not in basket.lines and len(basket.lines) >= MAX_LINES:
                    raise Conflict(f"A basket holds at most {MAX_LINES} different items.", code="BASKET_FULL")
                basket.lines = basket.lines.setting(line)
            self._save(basket)  # conditioned on the version read: a concurrent change reads both again
            return price_lines(basket, products, promotion)

        return read_then_write(read, write, lost=BasketChanged, attempts=_ATTEMPTS,
                               gave_up=still_changing("The basket"))

    def set_currency(self, user_id: str, currency: str) -> BasketOut:
        """Price the basket in `currency`: refused (409 PRICE_NOT_AVAILABLE, naming them) while a line's variant
        has no price in it."""
        def read() -> tuple[StoredBasket, dict[str, Product], PromotionSeen | None]:
            basket = self.baskets.get(user_id)
            return (basket, *self._priced(basket))

        def write(seen: tuple[StoredBasket, dict[str, Product], PromotionSeen | None]) -> BasketOut:
            basket, products, promotion = seen
            unpriced = [line for line in basket.lines
                        if (product := products.get(line.product_id)) is not None
                        and (variant := product.variant(line.key)) is not None and variant.price_in(currency) is None]
            if unpriced:
                raise _not_priced(currency, unpriced)
            if basket_currency(basket) != currency:
                basket.currency = currency
                self._save(basket)
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
    def _check_can_add(product: Product, variant: Variant, quantity: int, currency: str) -> None:
        if product.status != "ACTIVE" or variant.status != "ACTIVE":
            raise Conflict("This item is no longer sold.", [{**Line(product.id, quantity, variant.id).named(),
                                                             "issue": "unavailable", "message": "no longer sold"}],
                           code="ITEM_UNAVAILABLE")
        if variant.price_in(currency) is None:
            raise _not_priced(currency, [Line(product.id, quantity, variant.id)])
        stock = variant.stock or 0
        if quantity > stock:
            raise Conflict(f"Only {stock} in stock.",
                           [{"field": "quantity", "issue": "insufficient_stock",
                             "message": f"at most {stock} available"}], code="INSUFFICIENT_STOCK")


def _variant_named(products: dict[str, Product], item_id: str) -> tuple[Product, Variant]:
    """The product and variant `item_id` names: a variant's id, or the id of a product of one variant."""
    for product in products.values():
        variant = product.variant(item_id)
        if variant is not None:
            return product, variant
    product = products.get(item_id)
    if product is None:
        raise NotFound(f"Product or variant {item_id} was not found.")
    if len(product.variants) != 1:
        raise BadRequest("The product has several variants: name one of them.",
                         [{"field": "variantId", "issue": "ambiguous",
                           "message": "one of " + ", ".join(variant.id for variant in product.variants)}],
                         code="VARIANT_REQUIRED")
    return product, product.variants[0]


def _not_priced(currency: str, lines: list[Line]) -> Conflict:
    return Conflict(f"Not every item has a price in {currency}.",
                    [{**line.named(), "issue": "no_price", "message": f"no price in {currency}"} for line in lines],
                    code="PRICE_NOT_AVAILABLE")
