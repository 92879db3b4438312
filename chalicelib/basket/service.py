"""Basket rules: catalogue prices only, bounded lines and quantities, one currency."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from chalicelib.basket.models import MAX_LINES, AddressRef, BasketLine, BasketOut
from chalicelib.basket.repository import BasketChanged, BasketRepository, StoredBasket
from chalicelib.catalogue import keys as catalogue_keys
from chalicelib.catalogue.models import Product, Variant
from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core import read_cache
from chalicelib.core.errors import BadRequest, Conflict, NotFound, ValidationFailed, still_changing
from chalicelib.core.ids import iso, now
from chalicelib.core.lines import Line
from chalicelib.core.models import PostalAddress, PricedLine
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings
from chalicelib.promotions.models import PromotionSeen
from chalicelib.promotions.repository import PromotionRepository
from chalicelib.shipping.models import ChosenShipping, ShippingMethod, ShippingOption, ShippingOptions
from chalicelib.shipping.repository import ShippingMethodRepository
from chalicelib.tax.models import TaxLine
from chalicelib.tax.repository import TaxRateRepository
from chalicelib.tax.totals import Rates, Totals, totals
from chalicelib.users import account_status
from chalicelib.users.repository import AccountInactive, UserRepository

_ATTEMPTS = 3


def basket_currency(basket: StoredBasket) -> str:
    return basket.currency or settings().default_currency


def basket_address(basket: StoredBasket) -> PostalAddress | None:
    return PostalAddress.model_validate(basket.shipping_address) if basket.shipping_address else None


@dataclass(frozen=True)
class Pricing:
    """What a basket is priced from, read in one go: its products (with the stock asked for), its promotion, the
    shipping method it chose and the tax rates of its destination's zones; `others`: further items asked for."""

    products: dict[str, Product] = field(default_factory=dict)
    promotion: PromotionSeen | None = None
    method: ShippingMethod | None = None
    zone_rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    others: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class PricingReader:
    """Reads what a basket is priced from in as few BatchGetItem calls as the keys need (one for up to 100)."""

    def __init__(self, products: ProductRepository, promotions: PromotionRepository, tax_rates: TaxRateRepository,
                 shipping_methods: ShippingMethodRepository):
        self.products = products
        self.promotions = promotions
        self.tax_rates = tax_rates
        self.shipping_methods = shipping_methods

    def read(self, basket: StoredBasket, product_ids: list[str], *, also: list[tuple[str, str]] | None = None,
             stock_of: list[str] | None = None, address: PostalAddress | None = None,
             method_id: str | None = None, stock_copy: bool = False) -> Pricing:
        """The products a basket needs (with the stock of the variants `stock_of` names), its code's promotion
        with the customer's marker, the method (`method_id`, else the basket's) and the rates at `address` (else
        the basket's), with `also` (other items by key, answered as stored)."""
        code = basket.promotion_code
        address = address or basket_address(basket)
        zones = address.zones() if address else ()
        method_id = method_id or basket.shipping_method_id
        # The method and the destination's rates: from this container's copy while it is fresh (core/read_cache.py).
        kept, settings_to_read = read_cache.split([*self.shipping_methods.method_keys(method_id),
                                                   *self.tax_rates.zone_keys(zones)])
        extra = [*(self.promotions.seen_keys(code, basket.user_id) if code else []), *settings_to_read,
                 *(also or [])]
        if not product_ids and not extra:
            found, others = {}, {}
        else:
            found, others = self.products.get_many_with(product_ids, extra, stock_of=stock_of or (),
                                                        stock_copy=stock_copy)
            read_cache.keep(settings_to_read, others)
        others = {**others, **kept}
        promotion = self.promotions.seen_from(code, basket.user_id, others) if code else None
        return Pricing(products=found, promotion=promotion, method=self.shipping_methods.method_from(method_id, others),
                       zone_rates=self.tax_rates.rates_from(zones, others), others=others)


def price_lines(basket: StoredBasket, pricing: Pricing, at: str | None = None) -> BasketOut:
    """Price a basket from the catalogue as it is now, in the basket's currency; lines whose variant or product
    is no longer sold, or has no price in that currency, are flagged and left out of the subtotal. Its
    promotion code is judged on that subtotal at `at` (now); the chosen shipping method is charged while it still
    serves the address in that currency; tax is reckoned at the address (chalicelib/tax/totals.py)."""
    currency = basket_currency(basket)
    lines = []
    for held in basket.lines:
        product = pricing.products.get(held.product_id)
        variant = product.variant(held.key) if product else None
        price = variant.price_in(currency) if variant else None
        available = price is not None and product.status == variant.status == "ACTIVE"
        lines.append(BasketLine.priced(held, product.name if product else "(no longer sold)", price or 0,
                                       available=available, sku=variant.sku if variant else None,
                                       options=variant.options if variant else None,
                                       tax_class=product.tax_class if product else "standard"))
    sold = [line for line in lines if line.available]
    subtotal = sum(line.line_total for line in sold)
    promotion = pricing.promotion
    applied = promotion.applied(at=at or iso(), subtotal=subtotal, currency=currency) \
        if promotion is not None else None
    address = basket_address(basket)
    method = pricing.method if address and pricing.method and pricing.method.offered(address, currency) else None
    summed = totals_of(sold, discount=applied.discount if applied else 0, method=method, currency=currency,
                       rates=Rates.at(address.zones(), pricing.zone_rates) if address else Rates())
    charged = iter(summed.lines)
    lines = [line.model_copy(update=vars(next(charged))) if line.available else line for line in lines]
    return BasketOut(items=lines, currency=currency, updated_at=basket.updated_at, promotion=applied,
                     shipping_address=address, **summary(summed, method))


def totals_of(lines: list[PricedLine], *, discount: int, method: ShippingMethod | None, currency: str,
              rates: Rates) -> Totals:
    """The totals of `lines` less `discount`, shipped by `method` (None: nothing charged for shipping) and taxed at
    `rates`, in `currency`."""
    shipping = method.amount(currency, sum(line.line_total for line in lines) - discount) if method else 0
    return totals([(line.line_total, line.tax_class) for line in lines], discount=discount, shipping=shipping,
                  shipping_class=method.tax_class if method else "standard", rates=rates,
                  prices_include_tax=settings().includes_tax(currency))


def summary(summed: Totals, method: ShippingMethod | None) -> dict[str, Any]:
    """The totals' fields of a basket, a checkout or an order."""
    return {"subtotal": summed.subtotal, "discount": summed.discount, "shipping": summed.shipping,
            "tax": summed.tax, "total": summed.total, "prices_include_tax": summed.prices_include_tax,
            "shipping_method": ChosenShipping(id=method.id, name=method.name, amount=summed.shipping,
                                              tax_class=method.tax_class) if method else None,
            "tax_lines": [TaxLine(tax_class=tax_class, rate_percent=rate, amount=amount)
                          for tax_class, rate, amount in summed.tax_lines]}


def address_from_book(users: UserRepository, user_id: str, address_id: str) -> PostalAddress:
    """A saved address of `user_id` as a shipping address (422 when it is not theirs, or not there)."""
    saved = users.get_address(user_id, address_id, None)
    if saved is None:  # unknown, or another user's: the same answer
        raise ValidationFailed("The address was not found in your address book.",
                               [{"field": "addressId", "issue": "not_found", "message": "unknown address"}])
    return PostalAddress.model_validate(saved.model_dump(include=set(PostalAddress.model_fields)))


class BasketService:
    def __init__(self, baskets: BasketRepository, pricing: PricingReader, users: UserRepository):
        self.baskets = baskets
        self.pricing = pricing
        self.users = users

    def view(self, user_id: str) -> BasketOut:
        basket = self.baskets.get(user_id)
        return price_lines(basket, self._priced(basket))

    def _priced(self, basket: StoredBasket, more_products: set[str] = frozenset(),
                stock_of: list[str] | None = None, **more: Any) -> Pricing:
        """What `basket` is priced from, with `more_products` and the stock of the variants `stock_of` names."""
        return self.pricing.read(basket, sorted(set(basket.lines.product_ids()) | set(more_products)),
                                 stock_of=stock_of, **more)

    def _changing(self, user_id: str, change: Callable[[StoredBasket], Pricing],
                  write: Callable[[StoredBasket, Pricing], BasketOut]) -> BasketOut:
        """`write(basket, change(basket))`, the basket read afresh each time another change wins the race."""
        def read() -> tuple[StoredBasket, Pricing]:
            basket = self.baskets.get(user_id)
            return basket, change(basket)

        return read_then_write(read, lambda seen: write(*seen), lost=BasketChanged, attempts=_ATTEMPTS,
                               gave_up=still_changing("The basket"))

    def apply_promotion(self, user_id: str, code: str) -> BasketOut:
        """Put a code on the basket if it discounts it now; one answer (409 PROMOTION_NOT_APPLICABLE) for every
        code that does not, unknown or not, so codes cannot be found by asking. Each such code counts against
        the customer (PROMOTION_GUESSES); past the free ones they wait (429). One read of the basket, one of
        its products with the code and the customer's counter, one conditional write."""
        from chalicelib.promotions.service import guesses_of, not_applicable

        guesses = guesses_of(user_id)

        def read(basket: StoredBasket) -> Pricing:
            basket.promotion_code = code
            pricing = self.pricing.read(basket, sorted(basket.lines.product_ids()), also=guesses.wanted())
            guesses.check(pricing.others, "Too many promotion codes that do not apply; try again later.")
            return pricing

        def write(basket: StoredBasket, pricing: Pricing) -> BasketOut:
            priced = price_lines(basket, pricing)
            if priced.promotion is None or priced.promotion.issue:
                guesses.failed()
                raise not_applicable()
            self._save(basket)
            return priced.model_copy(update={"updated_at": basket.updated_at})

        return self._changing(user_id, read, write)

    def remove_promotion(self, user_id: str) -> None:
        def write(basket: StoredBasket, _pricing: Pricing) -> None:
            if basket.promotion_code is not None:
                basket.promotion_code = None
                self._save(basket)

        self._changing(user_id, lambda basket: Pricing(), write)

    def set_quantity(self, user_id: str, item_id: str, quantity: int) -> BasketOut:
        """`item_id` names a variant (or a product of one variant). One read of the basket, one of its products
        with the new line's (and its stock), one conditional write; the answer is priced from what was read."""
        def read(basket: StoredBasket) -> Pricing:
            if quantity == 0:
                return self._priced(basket)
            # (its stock as the shopper is told it: the checkout reads it afresh)
            priced = self._priced(basket, {catalogue_keys.product_of(item_id)}, stock_of=[item_id], stock_copy=True)
            named = priced.products.get(item_id)
            if named is not None and len(named.variants) == 1 and named.variants[0].id != item_id:
                # a product of one variant named by its own id, its variant having an id of its own: that stock
                priced = self._priced(basket, {item_id}, stock_of=[named.variants[0].id], stock_copy=True)
            return priced

        def write(basket: StoredBasket, pricing: Pricing) -> BasketOut:
            if quantity == 0:
                held = next((line for line in basket.lines if item_id in (line.key, line.product_id)), None)
                if held is None:
                    return price_lines(basket, pricing)
                basket.lines = basket.lines.without(held.key)
            else:
                product, variant = _variant_named(pricing.products, item_id)
                line = Line(product_id=product.id, quantity=quantity, variant_id=variant.id)
                self.pricing.products.read_again_where_short(pricing.products,
                                                             [(product.id, variant.id, quantity)])
                product, variant = _variant_named(pricing.products, item_id)
                self._check_can_add(product, variant, quantity, basket_currency(basket))
                if line.key not in basket.lines and len(basket.lines) >= MAX_LINES:
                    raise Conflict(f"A basket holds at most {MAX_LINES} different items.", code="BASKET_FULL")
                basket.lines = basket.lines.setting(line)
            self._save(basket)  # conditioned on the version read: a concurrent change reads both again
            return price_lines(basket, pricing)

        return self._changing(user_id, read, write)

    def set_currency(self, user_id: str, currency: str) -> BasketOut:
        """Price the basket in `currency`: refused (409 PRICE_NOT_AVAILABLE, naming them) while a line's variant
        has no price in it. A shipping method with no rate in it is no longer the basket's."""
        def write(basket: StoredBasket, pricing: Pricing) -> BasketOut:
            unpriced = [line for line in basket.lines
                        if (product := pricing.products.get(line.product_id)) is not None
                        and (variant := product.variant(line.key)) is not None and variant.price_in(currency) is None]
            if unpriced:
                raise _not_priced(currency, unpriced)
            if basket_currency(basket) != currency:
                basket.currency = currency
                if pricing.method is not None and pricing.method.rate_in(currency) is None:
                    basket.shipping_method_id = None
                self._save(basket)
            return price_lines(basket, pricing)

        return self._changing(user_id, self._priced, write)

    # --- where it ships, and how ------------------------------------------------------

    def set_shipping_address(self, user_id: str, given: PostalAddress | AddressRef) -> BasketOut:
        """Ship the basket to `given` (an address, or a saved one by id): refused (409 DESTINATION_NOT_SERVED)
        where no active method delivers in the basket's currency. The method chosen before stays while it serves
        the new address. One Query of the methods, then as a quantity change."""
        address = given if isinstance(given, PostalAddress) else address_from_book(self.users, user_id,
                                                                                    given.address_id)
        methods = list(self.pricing.shipping_methods.every_method())

        def write(basket: StoredBasket, pricing: Pricing) -> BasketOut:
            currency = basket_currency(basket)
            if not any(method.offered(address, currency) for method in methods):
                raise Conflict(f"No shipping method delivers to {'/'.join(address.zones())} in {currency}.",
                               [{"field": "country", "issue": "not_served",
                                 "message": "no shipping method delivers here"}], code="DESTINATION_NOT_SERVED")
            basket.shipping_address = address.model_dump(mode="json", by_alias=True, exclude_none=True)
            if pricing.method is not None and not pricing.method.offered(address, currency):
                basket.shipping_method_id = None
            self._save(basket)
            return price_lines(basket, pricing)  # read with the new address's rates

        return self._changing(user_id, lambda basket: self._priced(basket, address=address), write)

    def shipping_options(self, user_id: str) -> ShippingOptions:
        """The methods the basket may ship with, each at what it costs this basket, cheapest first (none without an
        address)."""
        basket = self.baskets.get(user_id)
        address = basket_address(basket)
        if address is None:
            return ShippingOptions(items=[])
        priced = price_lines(basket, self._priced(basket))
        currency, goods = priced.currency, priced.subtotal - priced.discount
        offered = [ShippingOption(id=method.id, name=method.name, amount=method.amount(currency, goods),
                                  currency=currency, min_days=method.min_days, max_days=method.max_days)
                   for method in self.pricing.shipping_methods.every_method() if method.offered(address, currency)]
        return ShippingOptions(items=sorted(offered, key=lambda option: (option.amount, option.max_days or 0)))

    def set_shipping_method(self, user_id: str, method_id: str) -> BasketOut:
        """Ship with `method_id`: 409 SHIPPING_METHOD_NOT_AVAILABLE unless it is active, serves the basket's address
        and has a rate in its currency (409 SHIPPING_ADDRESS_REQUIRED before an address is set)."""
        def write(basket: StoredBasket, pricing: Pricing) -> BasketOut:
            address = basket_address(basket)
            if address is None:
                raise address_required()
            if pricing.method is None or not pricing.method.offered(address, basket_currency(basket)):
                raise method_not_available(method_id)
            if basket.shipping_method_id != method_id:
                basket.shipping_method_id = method_id
                self._save(basket)
            return price_lines(basket, pricing)

        return self._changing(user_id, lambda basket: self._priced(basket, method_id=method_id), write)

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


def address_required() -> Conflict:
    return Conflict("Set the basket's shipping address first.", [
        {"field": "shippingAddress", "issue": "required", "message": "PUT /basket/shipping-address"}],
        code="SHIPPING_ADDRESS_REQUIRED")


def method_not_available(method_id: str) -> Conflict:
    """The one answer for a method the basket may not use: unknown, withdrawn, not serving its address, or with no
    rate in its currency."""
    return Conflict("This shipping method is not available for your basket.", [
        {"field": "id", "issue": "not_available", "value": method_id,
         "message": "see GET /basket/shipping-methods"}], code="SHIPPING_METHOD_NOT_AVAILABLE")


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
