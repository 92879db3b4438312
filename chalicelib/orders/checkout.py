"""Checkout: one transaction turns a basket into an accepted order request, never twice per key."""
from __future__ import annotations

from chalicelib.basket.repository import BasketChanged, BasketRepository, StoredBasket
from chalicelib.basket.service import (
    PricingReader,
    address_from_book,
    address_required,
    basket_address,
    basket_currency,
    method_not_available,
    summary,
    totals_of,
)
from chalicelib.catalogue import stock
from chalicelib.catalogue.events import low_stock
from chalicelib.catalogue.models import Product
from chalicelib.catalogue.repository import StockRefused
from chalicelib.core import metrics
from chalicelib.core.auth import Caller
from chalicelib.core.dynamo import TransactionContended, Write
from chalicelib.core.errors import Conflict, ServiceUnavailable
from chalicelib.core.events import Envelope, envelope
from chalicelib.core.idempotency import answered_before, request_hash
from chalicelib.core.ids import iso
from chalicelib.core.lines import Line, Lines
from chalicelib.core.models import PostalAddress, shown
from chalicelib.core.outbox import announce
from chalicelib.core.settings import settings
from chalicelib.orders import keys
from chalicelib.orders.events import CheckoutRequested
from chalicelib.orders.models import CheckoutAccepted, CheckoutRequest, IdempotencyKey, OrderLine
from chalicelib.orders.repository import (
    Allowance,
    AllowanceExceeded,
    CheckoutExists,
    CheckoutLine,
    CheckoutRepository,
    ReservationTooLarge,
)
from chalicelib.promotions.models import NOT_FOUND, PromotionSeen
from chalicelib.promotions.repository import PromotionRepository, RedemptionRefused
from chalicelib.tax.totals import Rates
from chalicelib.users import account_status
from chalicelib.users.repository import AccountInactive, UserRepository

# Transactions of one checkout: a variant whose stock is spread may find the items it chose emptied by other
# buyers meanwhile; it reads them again and chooses again, and answers 409 only once the variant holds too few.
STOCK_ATTEMPTS = 4


def _line_problem(line: Line, issue: str, message: str) -> dict:
    return {"field": f"items.{line.key}", **line.named(), "issue": issue, "message": message}


def _lines_conflict(problems: list[dict]) -> Conflict:
    """409 naming every line that cannot be bought as it is (OUT_OF_STOCK when stock is all that is short)."""
    metrics.count("StockRejections")
    only_stock = all(problem["issue"] == "out_of_stock" for problem in problems)
    return Conflict("Some items cannot be bought as they are.", problems,
                    code="OUT_OF_STOCK" if only_stock else "ITEMS_CHANGED")


class CheckoutService:
    def __init__(self, checkouts: CheckoutRepository, baskets: BasketRepository, pricing: PricingReader,
                 users: UserRepository, promotions: PromotionRepository):
        self.checkouts = checkouts
        self.baskets = baskets
        self.pricing = pricing
        self.users = users
        self.promotions = promotions

    def checkout(self, who: Caller, idempotency_key: IdempotencyKey, request: CheckoutRequest) -> CheckoutAccepted:
        """Turn the caller's basket into an accepted order request, once per idempotency key."""
        checkout_id = keys.checkout_id_for(who.user_id, idempotency_key)
        this_hash = request_hash(request)

        basket = self.baskets.get(who.user_id)
        if not basket.lines:
            # An empty basket is also what a retry of a successful checkout finds.
            return self._replay(checkout_id, this_hash) or self._empty_basket()
        address = self._address(who, request, basket)
        if basket.shipping_method_id is None:
            raise Conflict("Choose how the basket ships first.", [
                {"field": "shippingMethod", "issue": "required", "message": "PUT /basket/shipping-method"}],
                code="SHIPPING_METHOD_REQUIRED")
        # The products, the promotion with the buyer's marker, the method and the destination's tax rates: one read.
        # A spread variant's stock is this container's copy, at most a second old: its items are chosen from it,
        # the transaction's conditions decide, and a shortfall is read again before it is answered.
        pricing = self.pricing.read(basket, basket.lines.product_ids(), stock_of=basket.lines.keys(), address=address,
                                    stock_copy=True)
        self.pricing.products.read_again_where_short(
            pricing.products, [(line.product_id, line.key, line.quantity) for line in basket.lines])
        currency = basket_currency(basket)
        lines = self._lines(basket.lines, pricing.products, currency)
        method = pricing.method
        if method is None or not method.offered(address, currency):
            raise method_not_available(basket.shipping_method_id)
        created_at = iso()
        order_id = keys.order_id_for(checkout_id)
        discount = self._discount(pricing.promotion, created_at, sum(line.line_total for line in lines), currency)
        summed = totals_of(lines, discount=discount, method=method, currency=currency,
                           rates=Rates.at(address.zones(), pricing.zone_rates))
        charged = iter(summed.lines)
        lines = [line.model_copy(update=vars(next(charged))) for line in lines]
        self._within_the_order_total_bound(summed.total, currency)
        # Nothing to pay (a 100% discount, free shipping): the order is paid when it is made, so it is never unpaid.
        allowance = self._allowance(who, lines) if summed.total > 0 else None

        promotion = pricing.promotion
        once = bool(promotion and promotion.promotion.once_per_customer)
        requested = CheckoutRequested(checkout_id=checkout_id, order_id=order_id, user_id=who.user_id,
                                      items=lines, currency=currency, created_at=created_at,
                                      holds_allowance=allowance is not None, **summary(summed, method),
                                      promotion_code=promotion.code if promotion else None,
                                      promotion_once_per_customer=once)
        event = envelope(requested, actor=who.user_id, event_id=keys.event_id_for("CheckoutRequested", checkout_id))
        record = {**requested.record(), "request_hash": this_hash, "correlation_id": event.correlationId,
                  # Only here, never on the bus: the order pipeline reads it from this record.
                  "shipping_address": address.model_dump(mode="json", by_alias=True)}
        held = {line.key: variant.held or {0: variant.stock or 0} for line in basket.lines
                if (variant := pricing.products[line.product_id].variant(line.key)).stock_items > 1}
        try:
            for attempt in range(STOCK_ATTEMPTS):
                try:
                    self.checkouts.commit(checkout=record, event=event,
                                          lines=[CheckoutLine(Line.of(line), line.unit_price, currency,
                                                              _plan(Line.of(line), held)) for line in lines],
                                          basket_clear=self.baskets.clear_in_transaction(who.user_id,
                                                                                         basket.version),
                                          allowance=allowance, buyer_active=self.users.active(who.user_id),
                                          redemption=self._redemption(promotion, who, order_id, created_at, once))
                    break
                except StockRefused as rejected:
                    held, again = self._held_now(rejected, held)
                    if not again or attempt == STOCK_ATTEMPTS - 1:
                        raise
        except CheckoutExists:
            replay = self._replay(checkout_id, this_hash)
            if replay:
                return replay
            raise Conflict("The checkout could not be completed; try again.", code="CHECKOUT_CONFLICT") from None
        except AllowanceExceeded as exceeded:
            raise self._over_allowance(allowance, exceeded) from None
        except RedemptionRefused as refused:
            raise self._redemption_refused(refused, promotion.code) from None
        except StockRefused as rejected:
            raise self._refused(rejected, currency, held) from None
        except ReservationTooLarge as large:
            raise Conflict(f"This order would take its units from {large.items} stock records at once, more than "
                           "one order can; buy fewer items in one order.", code="TOO_MANY_STOCK_ITEMS") from None
        except BasketChanged:
            raise Conflict("The basket changed during checkout; review it and try again.",
                           code="BASKET_CHANGED") from None
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None
        except TransactionContended:
            # Other checkouts kept colliding on the same products: nothing was reserved.
            # Nothing about the basket is wrong: the same request (the same Idempotency-Key) may simply be sent
            # again, so the answer is a 503 saying when, not a 409 that a client would show as a refusal.
            metrics.count("CheckoutConflicts")
            contended = ServiceUnavailable("Many people are buying these items right now; please try again in a "
                                           "moment.", code="CHECKOUT_CONFLICT")
            contended.headers = {"Retry-After": "1"}
            raise contended from None
        # A low-stock alert is the system's, not the buyer's: its correlation id says which checkout caused it.
        announce([(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, event)],
                 also=self._low_stock_alerts(lines, pricing.products, "system"))
        metrics.count("CheckoutsAccepted")
        if promotion:
            metrics.count_by("PromotionRedemptions", "code", promotion.code)
        return CheckoutAccepted(checkout_id=checkout_id, order_id=order_id)

    # --- steps -----------------------------------------------------------------------

    def _lines(self, wanted: Lines, products: dict[str, Product], currency: str) -> list[OrderLine]:
        problems, lines = [], []
        for line in wanted:
            product = products.get(line.product_id)
            variant = product.variant(line.key) if product else None
            price = variant.price_in(currency) if variant else None
            stock = (variant.stock or 0) if variant else 0
            if variant is None or product.status != "ACTIVE" or variant.status != "ACTIVE":
                problems.append(_line_problem(line, "unavailable", "this item is no longer sold"))
            elif price is None:  # its price in the basket's currency was taken away since it was added
                problems.append(_line_problem(line, "currency_changed", f"no longer priced in {currency}"))
            elif stock < line.quantity:
                problems.append({**_line_problem(line, "out_of_stock", f"{line.quantity} wanted, {stock} in stock"),
                                 "requested": line.quantity, "available": stock})
            else:
                lines.append(OrderLine.priced(line, product.name, price, sku=variant.sku, options=variant.options,
                                              tax_class=product.tax_class))
        if problems:
            raise _lines_conflict(problems)
        return lines

    @staticmethod
    def _discount(promotion: PromotionSeen | None, at: str, subtotal: int, currency: str | None) -> int:
        """What the basket's code takes off, judged as the basket shows it; a code that no longer applies
        is refused with why (the shopper takes it off or lets it be)."""
        if promotion is None:
            return 0
        from chalicelib.promotions.service import not_found, refused

        discount, why = promotion.judge(at=at, subtotal=subtotal, currency=currency)
        if why == NOT_FOUND:
            raise not_found(promotion.code)
        if why:
            metrics.count("PromotionRejections")
            raise refused(why)
        return discount

    @staticmethod
    def _within_the_order_total_bound(total: int, currency: str) -> None:
        """409 for an order totalling more than MAX_ORDER_TOTAL (minor units): the bound every inbound money
        model stays above, so the provider's payment or refund of any accepted order is never refused."""
        limit = settings().max_order_total
        if total > limit:
            metrics.count("OrderTotalRejections")
            raise Conflict(f"One order may total at most {shown(limit, currency)}; this one totals "
                           f"{shown(total, currency)}.",
                           [{"field": "basket", "issue": "order_total_too_large", "total": total,
                             "maxOrderTotal": limit, "setting": "MAX_ORDER_TOTAL",
                             "message": f"at most {limit} (MAX_ORDER_TOTAL)"}], code="ORDER_TOTAL_TOO_LARGE")

    def _redemption(self, promotion: PromotionSeen | None, who: Caller, order_id: str, at: str,
                    once: bool) -> list[Write]:
        """The transaction items redeeming the basket's code: the count (conditioned on the code being
        active, in its window and under its cap at `at`), and the buyer's marker when once per customer."""
        if promotion is None:
            return []
        items = [self.promotions.redeem_in_transaction(promotion.code, at)]
        if once:
            items.append(self.promotions.mark_redeemed_in_transaction(who.user_id, promotion.code, order_id, at))
        return items

    @staticmethod
    def _redemption_refused(refused: RedemptionRefused, code: str) -> Exception:
        """Why the transaction refused the code: the buyer holds it already, or the promotion as the transaction
        found it (changed since the basket was priced, or gone)."""
        from chalicelib.promotions.service import not_found, refused as refusal

        metrics.count("PromotionRejections")
        return refusal(refused.why) if refused.why else not_found(code)

    @staticmethod
    def _allowance(who: Caller, lines: list[OrderLine]) -> Allowance:
        """The caller's unpaid allowance; a basket that alone reserves more units than it allows is refused
        here (the transaction enforces the allowance against what the caller already holds)."""
        allowance = Allowance(who.user_id, settings().max_unpaid_orders, settings().max_unpaid_units)
        if allowance_units(lines) > allowance.units:
            metrics.count("AllowanceRejections")
            raise Conflict(f"One order may reserve at most {allowance.units} units; this one asks for "
                           f"{allowance_units(lines)}.", code="TOO_MANY_UNITS")
        return allowance

    @staticmethod
    def _over_allowance(allowance: Allowance, exceeded: AllowanceExceeded) -> Conflict:
        metrics.count("AllowanceRejections")
        details = [{"field": "basket", "issue": "unpaid_allowance", "heldOrders": exceeded.held_orders,
                    "heldUnits": exceeded.held_units, "maxOrders": allowance.orders, "maxUnits": allowance.units,
                    "message": "pay for or cancel an order awaiting payment first"}]
        if exceeded.held_orders >= allowance.orders:
            return Conflict(f"You have {exceeded.held_orders} orders awaiting payment, the most one customer may "
                            "hold; pay for or cancel one first.", details, code="TOO_MANY_UNPAID_ORDERS")
        return Conflict(f"Your orders awaiting payment reserve {exceeded.held_units} units; this one would take "
                        f"you past {allowance.units}. Pay for or cancel one first.", details,
                        code="TOO_MANY_UNITS")

    def _address(self, who: Caller, request: CheckoutRequest, basket: StoredBasket) -> PostalAddress:
        """Where the order ships: the body's address (or saved address) if it names one, else the basket's."""
        if request.shipping_address is not None:
            return request.shipping_address
        if request.address_id is not None:
            return address_from_book(self.users, who.user_id, request.address_id)
        address = basket_address(basket)
        if address is None:
            raise address_required()
        return address

    def _replay(self, checkout_id: str, this_hash: str) -> CheckoutAccepted | None:
        previous = self.checkouts.get(checkout_id)
        first = CheckoutAccepted(checkout_id=previous.checkout_id, order_id=previous.order_id) if previous else None
        return answered_before(first, previous.request_hash if previous else None, this_hash)

    @staticmethod
    def _empty_basket():
        raise Conflict("The basket is empty.", code="BASKET_EMPTY")

    def _held_now(self, rejected: StockRefused, held: dict[str, dict[int, int]]
                  ) -> tuple[dict[str, dict[int, int]], bool]:
        """When only stock items of spread variants refused (buyers took from the chosen ones meanwhile): what
        each of their items holds now, and whether choosing again can succeed (each still holds what its line
        asks for in all). Another line's refusal cannot be helped: (held, False)."""
        refused = {part.line.key: part for part in rejected.parts}
        if any(part.issue != "out_of_stock" or key not in held for key, part in refused.items()):
            for part in rejected.parts:
                if part.issue in ("unavailable", "currency_changed", "price_changed"):
                    self.pricing.products.forget(part.line.product_id)  # this container's copy was stale
            return held, False
        now = {**held, **self.pricing.products.held(refused)}
        return now, all(sum(now[key].values()) >= part.line.quantity for key, part in refused.items())

    @staticmethod
    def _refused(rejected: StockRefused, currency: str, held: dict[str, dict[int, int]] | None = None) -> Conflict:
        """What changed between pricing the basket and the transaction, line by line (once each: a line taking
        from several stock items may be refused by more than one; what a spread variant holds is their sum)."""
        problems = []
        for refusal in {part.line.key: part for part in rejected.parts}.values():
            line, current = refusal.line, refusal.current or {}
            if line.key in (held or {}):
                current = {**current, "stock": sum(held[line.key].values())}
            if refusal.issue == "unavailable":
                problems.append(_line_problem(line, "unavailable", "this item is no longer sold"))
            elif refusal.issue == "currency_changed":
                problems.append(_line_problem(line, "currency_changed", "no longer priced in the basket's currency"))
            elif refusal.issue == "price_changed":
                problems.append(_line_problem(line, "price_changed",
                                              f"the price is now {(current.get('prices') or {}).get(currency)}"))
            else:
                problems.append({**_line_problem(line, "out_of_stock",
                                                 f"{line.quantity} wanted, {current.get('stock', 0)} in stock"),
                                 "requested": line.quantity, "available": current.get("stock", 0)})
        return _lines_conflict(problems)

    @staticmethod
    def _low_stock_alerts(lines: list[OrderLine], products: dict[str, Product], actor: str) -> list[Envelope]:
        alerts = []
        for line in lines:
            product = products[line.product_id]
            variant = product.variant(Line.of(line).key)
            before = variant.stock or 0
            alert = low_stock(product, variant, before, before - line.quantity)
            if alert:
                alerts.append(envelope(alert, actor=actor))
        return alerts


def _plan(line: Line, held: dict[str, dict[int, int]]) -> dict[int, int] | None:
    """Which stock items the line takes its units from: its variant's sale record (None) unless its stock is
    spread; then items chosen at random among those holding enough (stock.take), or, when none does alone,
    several of them. Lines found short of stock were refused before this."""
    if line.key not in held:
        return None
    return stock.take(held[line.key], line.quantity) or {0: line.quantity}


def allowance_units(lines: list[OrderLine]) -> int:
    return sum(line.quantity for line in lines)
