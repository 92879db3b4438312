"""The payment provider port: what the shop asks of whoever takes the cards, in the shop's own terms (amounts in
the minor unit of the currency as ISO 4217 counts it, the shop's order and refund ids).

Two adapters, chosen per stage by `PAYMENT_PROVIDER`: `stripe` (chalicelib/payments/stripe_adapter.py, the only
module that imports the Stripe library) and `generic`, a provider that takes payments outside the API and
reports them through the generic signed webhook (POST /webhooks/payments), confirming refunds the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from chalicelib.core.errors import Conflict, ServiceUnavailable
from chalicelib.core.logs import get_logger
from chalicelib.orders.models import ProviderName


@dataclass(frozen=True)
class Intent:
    """A payment the provider is waiting for: one per order and amount."""

    id: str
    client_secret: str
    amount: int  # the shop's minor units
    currency: str
    status: str  # the provider's own word for where it stands (e.g. requires_payment_method, succeeded)


@dataclass(frozen=True)
class RefundOutcome:
    """The provider's answer to a refund: `succeeded` or `failed` are final; `pending` waits for its webhook."""

    provider_refund_id: str
    status: Literal["succeeded", "pending", "failed"]
    reason: str | None = None


class ProviderUnavailable(Exception):
    """The provider did not answer, or asked us to slow down: try again later (the queue retries with backoff)."""


class ProviderRefused(Exception):
    """The provider refused the request for good (the reason is the message)."""


class NotExpressible(ProviderRefused):
    """An amount the provider cannot express in its own minor units (e.g. 12.345 KWD where it takes multiples of
    ten thousandths)."""


class NotConfigured(Exception):
    """This stage has no keys for its provider (the reason is the message)."""


class PaymentProvider(Protocol):
    name: ProviderName

    def create_intent(self, order_id: str, amount: int, currency: str) -> Intent: ...
    def retrieve_intent(self, intent_id: str) -> Intent: ...
    def cancel_intent(self, intent_id: str) -> None: ...
    def order_of_intent(self, intent_id: str) -> str | None: ...
    def refund(self, intent_id: str, refund_id: str, order_id: str, amount: int, currency: str,
               *, look_first: bool = False) -> RefundOutcome: ...


class GenericProvider:
    """A provider outside the API: it takes payments its own way and reports them, and their refunds, through the
    generic signed webhook. Nothing is asked of it here."""

    name: ProviderName = "generic"

    def create_intent(self, order_id: str, amount: int, currency: str) -> Intent:
        raise Conflict("This shop's payment provider takes payments outside the API; pay as it directs.",
                       code="PAYMENT_PROVIDER_EXTERNAL")

    def retrieve_intent(self, intent_id: str) -> Intent:
        raise ProviderRefused("the generic provider keeps no intents")

    def cancel_intent(self, intent_id: str) -> None:
        return None

    def order_of_intent(self, intent_id: str) -> str | None:
        return None

    def refund(self, intent_id: str, refund_id: str, order_id: str, amount: int, currency: str,
               *, look_first: bool = False) -> RefundOutcome:
        raise ProviderRefused("the generic provider confirms refunds by webhook")


def configured() -> PaymentProvider:
    """This stage's provider (`PAYMENT_PROVIDER`). The Stripe adapter is imported here, on first use, so a
    function that never pays never loads the Stripe library."""
    from chalicelib.core.settings import settings

    if settings().payment_provider == "generic":
        return GenericProvider()
    from chalicelib.payments.stripe_adapter import StripeProvider

    return StripeProvider()


def unavailable(exc: Exception) -> ServiceUnavailable:
    """What a shopper or staff member is answered when the provider cannot be reached or is not configured."""
    if isinstance(exc, NotConfigured):
        get_logger("payments").error("payment provider not configured", extra={"why": str(exc)})
        return ServiceUnavailable("Payments are not configured on this stage.", code="PAYMENTS_NOT_CONFIGURED")
    get_logger("payments").warning("payment provider unavailable", extra={"why": str(exc)})
    return ServiceUnavailable("The payment provider could not be reached; please retry.",
                              code="PAYMENT_PROVIDER_UNAVAILABLE")
