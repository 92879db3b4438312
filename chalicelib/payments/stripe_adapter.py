"""Stripe: PaymentIntents, refunds and `Stripe-Signature` webhooks, behind the provider port.

The only module that imports the Stripe library, and only when a payment path first needs it (the library takes
a sixth of a second to import: routes that do not pay never load it). Stripe's keys come from the stage's
Secrets Manager secret (`STRIPE_SECRET`: JSON `{"secretKey", "webhookSecret"}`), read once per container; the
local and test stages may give them as plain settings instead.

Amounts: the shop counts in the minor unit ISO 4217 gives each currency; Stripe has its own list. Zero-decimal
at Stripe (`STRIPE_ZERO_DECIMAL`) includes MGA, which ISO gives two decimals; ISK, zero-decimal in ISO, is
two-decimal at Stripe in multiples of 100; five currencies take three decimals with the last one 0. An amount
Stripe cannot express exactly is refused, never rounded.
"""
from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import stripe

from chalicelib.core.logs import get_logger
from chalicelib.core.models import exponent
from chalicelib.core.settings import settings
from chalicelib.orders.models import LedgerType
from chalicelib.payments.models import ProviderEvent
from chalicelib.payments.provider import (
    Intent,
    NotConfigured,
    NotExpressible,
    ProviderName,
    ProviderRefused,
    ProviderUnavailable,
    RefundOutcome,
)

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
STRIPE_ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
TOLERANCE_SECONDS = 300  # a signed event older (or newer) than this is refused: a replay
TIMEOUT_SECONDS = 5  # within the API function's 10 s, with one retry
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
# t=<unix seconds> and one or more v1=<hex SHA-256>, with any other schemes Stripe adds (v0, ...), within 1 KiB.
_SIGNATURE = re.compile(r"(?=.{1,1024}$)t=[0-9]{1,12}(,[a-z0-9]{1,8}=[0-9a-fA-F]{1,128})*,v1=[0-9a-f]{64}"
                        r"(,[a-z0-9]{1,8}=[0-9a-fA-F]{1,128})*")


def _stripe_exponent(currency: str) -> int:
    return 0 if currency in STRIPE_ZERO_DECIMAL else 3 if currency in STRIPE_THREE_DECIMAL else 2


def _step(currency: str) -> int:
    """The multiple of Stripe's own units an amount must be: three-decimal currencies end in 0, ISK and HUF's
    charges are whole units."""
    return 10 if currency in STRIPE_THREE_DECIMAL else 100 if currency == "ISK" else 1


def to_stripe(amount: int, currency: str) -> int:
    """The shop's minor units as Stripe counts them; NotExpressible when Stripe cannot take the amount exactly."""
    shift = _stripe_exponent(currency) - exponent(currency)
    if shift >= 0:
        scaled = amount * 10 ** shift
    else:
        scaled, left = divmod(amount, 10 ** -shift)
        if left:
            raise NotExpressible(f"{amount} in the minor unit of {currency} is not a whole number of Stripe's units")
    if scaled % _step(currency):
        raise NotExpressible(f"Stripe takes {currency} in multiples of {_step(currency)} of its units")
    return scaled


def from_stripe(amount: int, currency: str) -> int:
    """Stripe's units as the shop's minor units (exact: Stripe's are never finer than ISO's but for three-decimal
    currencies, whose last digit Stripe keeps 0)."""
    shift = exponent(currency) - _stripe_exponent(currency)
    if shift >= 0:
        return amount * 10 ** shift
    scaled, left = divmod(amount, 10 ** -shift)
    if left:
        raise NotExpressible(f"{amount} of Stripe's {currency} units is not a whole minor unit")
    return scaled


# --- keys ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StripeKeys:
    secret_key: str
    webhook_secret: str


@functools.lru_cache(maxsize=1)
def keys() -> StripeKeys:
    """The stage's keys: from its secret where one is named; the plain settings on the local and test stages only.
    Cached once read (one Secrets Manager call per cold start); a failure is not cached, so keys put into the
    secret after the deploy are picked up by the next request."""
    current = settings()
    if current.stripe_secret:
        from chalicelib.core.gateways import ProviderError, stack_secrets

        try:
            stored = json.loads(stack_secrets().get(current.stripe_secret))
        except ProviderError as exc:
            raise NotConfigured(f"the secret {current.stripe_secret} could not be read ({exc.code})") from None
        except ValueError:
            raise NotConfigured(f"the secret {current.stripe_secret} is not JSON") from None
        secret_key, webhook_secret = (stored.get("secretKey") or "", stored.get("webhookSecret") or "") \
            if isinstance(stored, dict) else ("", "")
    elif current.deployed:
        raise NotConfigured(f"the {current.stage} stage names no STRIPE_SECRET")
    else:
        secret_key, webhook_secret = current.stripe_secret_key, current.stripe_webhook_secret
    if not secret_key.startswith(("sk_", "rk_")) or not webhook_secret.startswith("whsec_"):
        raise NotConfigured("Stripe's secret key or webhook signing secret is missing")
    return StripeKeys(secret_key, webhook_secret)


def _keys() -> StripeKeys:
    try:
        return keys()
    except NotConfigured:
        raise
    except Exception as exc:  # an unexpected failure reading them: not cached, retried by the next call
        raise NotConfigured(f"Stripe's keys could not be read ({type(exc).__name__})") from None


@functools.lru_cache(maxsize=1)
def _client(secret_key: str, api_base: str) -> Any:
    http = stripe.new_default_http_client(timeout=TIMEOUT_SECONDS)
    return stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else None,
                               max_network_retries=1, http_client=http)


def client() -> Any:
    return _client(_keys().secret_key, settings().stripe_api_base)


@contextlib.contextmanager
def _calling() -> Iterator[None]:
    """Stripe's errors in the port's terms: unreachable, throttled or failing (and keys it refuses):
    ProviderUnavailable; the request refused: ProviderRefused."""
    try:
        yield
    except stripe.StripeError as exc:
        if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.AuthenticationError)) or \
                (exc.http_status or 500) >= 500:
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc.user_message or exc}") from None
        raise ProviderRefused(exc.user_message or str(exc)) from None


def _intent(found: Any, currency: str | None = None) -> Intent:
    plain = found.to_dict()
    currency = currency or plain["currency"].upper()
    return Intent(id=plain["id"], client_secret=plain.get("client_secret") or "",
                  amount=from_stripe(plain["amount"], currency), currency=currency, status=plain["status"])


class StripeProvider:
    name: ProviderName = "stripe"

    def create_intent(self, order_id: str, amount: int, currency: str) -> Intent:
        """One PaymentIntent per order and amount: Stripe answers a repeat of the same idempotency key with the
        first intent (and the order's conditional write keeps one where a provider does not)."""
        stripe_amount = to_stripe(amount, currency)
        with _calling():
            made = client().v1.payment_intents.create(
                # Payment methods: as the account's settings enable them (Stripe's default since its 2023-08-16 API).
                params={"amount": stripe_amount, "currency": currency.lower(), "metadata": {"orderId": order_id}},
                options={"idempotency_key": f"order-{order_id}-{stripe_amount}-{currency}"})
        return _intent(made, currency)

    def retrieve_intent(self, intent_id: str) -> Intent:
        with _calling():
            return _intent(client().v1.payment_intents.retrieve(intent_id))

    def cancel_intent(self, intent_id: str) -> None:
        """Cancel an intent no longer wanted. One that succeeded (or is cancelled already) is refused by Stripe:
        ProviderRefused, and its success reaches the shop by webhook (flagged `refundDue`)."""
        with _calling():
            client().v1.payment_intents.cancel(intent_id)

    def order_of_intent(self, intent_id: str) -> str | None:
        with _calling():
            found = client().v1.payment_intents.retrieve(intent_id).to_dict()
        order_id = (found.get("metadata") or {}).get("orderId")
        return order_id if isinstance(order_id, str) and _PROVIDER_ID.match(order_id) else None

    def refund(self, intent_id: str, refund_id: str, order_id: str, amount: int, currency: str,
               *, look_first: bool = False) -> RefundOutcome:
        """Pay back `amount` of the intent's charge, once per refund id: Stripe keeps the idempotency key for a
        day, and a redelivered request first looks for the refund it made (`look_first`), so a retry after that
        day, or at a provider that ignores the key, does not pay twice."""
        with _calling():
            if look_first:
                made_before = client().v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
                for made in made_before.auto_paging_iter():
                    if (made.to_dict().get("metadata") or {}).get("refundId") == refund_id:
                        return _refund_outcome(made.to_dict())
            made = client().v1.refunds.create(
                params={"payment_intent": intent_id, "amount": to_stripe(amount, currency),
                        "metadata": {"refundId": refund_id, "orderId": order_id}},
                options={"idempotency_key": f"refund-{refund_id}"})
        return _refund_outcome(made.to_dict())


def _refund_outcome(refund: dict[str, Any]) -> RefundOutcome:
    status = refund.get("status")
    if status == "succeeded":
        return RefundOutcome(refund["id"], "succeeded")
    if status in ("failed", "canceled"):
        return RefundOutcome(refund["id"], "failed", refund.get("failure_reason") or status)
    return RefundOutcome(refund["id"], "pending")


# --- webhooks ----------------------------------------------------------------------------------

class InvalidStripeSignature(Exception):
    pass


class NotAStripeEvent(InvalidStripeSignature):
    """Signed with the endpoint's secret, but not an event: never sent by Stripe."""


def verify(raw_body: bytes, signature_header: str | None) -> dict[str, Any]:
    """The event Stripe signed, if `Stripe-Signature` signs exactly this body within the tolerance; any of the
    header's `v1` signatures may match (Stripe signs with both secrets while one is rolled)."""
    if not _SIGNATURE.fullmatch(signature_header or ""):  # refused before any key is read
        raise InvalidStripeSignature("no Stripe-Signature of Stripe's shape")
    secret = _keys().webhook_secret
    try:
        stripe.WebhookSignature.verify_header(raw_body.decode("utf-8"), signature_header or "", secret,
                                              tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidStripeSignature(str(exc)) from None
    try:
        event = json.loads(raw_body)
    except ValueError:
        raise NotAStripeEvent("the signed body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str) \
            or not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict) \
            or not _PROVIDER_ID.match(event["id"]):
        raise NotAStripeEvent("the signed body is not a Stripe event")
    return event


def _order_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _PROVIDER_ID.match(value) else None


def _money(obj: dict[str, Any], field: str = "amount") -> tuple[int, str] | None:
    currency = obj.get("currency")
    amount = obj.get(field)
    if not isinstance(currency, str) or not re.fullmatch(r"[a-zA-Z]{3}", currency) or not isinstance(amount, int):
        return None
    try:
        return from_stripe(amount, currency.upper()), currency.upper()
    except NotExpressible:
        return None


def provider_events(event: dict[str, Any], provider: StripeProvider | None = None) -> list[ProviderEvent]:
    """What a verified Stripe event says in the ledger's terms: usually one entry; a `charge.refunded` one per
    refund it settles. Types the shop does not act on are recorded as `provider.other`."""
    kind, obj, ledger_id = event["type"], event["data"]["object"], f"stripe:{event['id']}"
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}

    def entry(type_: LedgerType, order_id: str | None, money: tuple[int, str] | None, **more: Any) -> ProviderEvent:
        amount, currency = money or (0, "")
        named = order_id or str(obj.get("id") or "unknown")[:128]
        return ProviderEvent(id=more.pop("id", ledger_id), type=type_, order_id=named,
                             known_order=order_id is not None, amount=amount, currency=currency, provider="stripe",
                             provider_type=kind, **more)

    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        order_id = _order_id(metadata.get("orderId"))
        if kind == "payment_intent.succeeded":
            received = _money(obj, "amount_received") if obj.get("amount_received") else _money(obj)
            return [entry("payment.succeeded", order_id, received, intent_id=obj.get("id"))]
        error = obj.get("last_payment_error") if isinstance(obj.get("last_payment_error"), dict) else {}
        reason = str(error.get("message") or error.get("code") or "the payment was declined")[:200]
        return [entry("payment.declined", order_id, _money(obj), intent_id=obj.get("id"), error=reason)]
    if kind in ("refund.updated", "refund.created", "refund.failed"):
        return [_refund_entry(entry, obj, ledger_id)]
    if kind == "charge.refunded":
        refunds = ((obj.get("refunds") or {}).get("data") or []) if isinstance(obj.get("refunds"), dict) else []
        settled = [_refund_entry(entry, refund, f"{ledger_id}:{refund.get('id')}") for refund in refunds
                   if isinstance(refund, dict) and refund.get("status") in ("succeeded", "failed", "canceled")]
        return settled or [entry("provider.other", _order_id(metadata.get("orderId")), None)]
    if kind == "charge.dispute.created":
        intent_id = obj.get("payment_intent")
        order_id = None
        if isinstance(intent_id, str) and _PROVIDER_ID.match(intent_id):
            order_id = (provider or StripeProvider()).order_of_intent(intent_id)
        reason = str(obj.get("reason") or "disputed")[:200]
        return [entry("payment.disputed", order_id, _money(obj), intent_id=intent_id, error=reason)]
    return [entry("provider.other", _order_id(metadata.get("orderId")), None)]


def _refund_entry(entry: Any, refund: dict[str, Any], ledger_id: str) -> ProviderEvent:
    metadata = refund.get("metadata") if isinstance(refund.get("metadata"), dict) else {}
    order_id, refund_id = _order_id(metadata.get("orderId")), _order_id(metadata.get("refundId"))
    status = refund.get("status")
    if status not in ("succeeded", "failed", "canceled"):  # pending, requires_action: its final word comes later
        return entry("provider.other", order_id, None, id=ledger_id)
    return entry("refund.succeeded" if status == "succeeded" else "refund.failed", order_id, _money(refund),
                 id=ledger_id, refund_id=refund_id or _order_id(refund.get("id")) or "unknown",
                 error=refund.get("failure_reason") if status != "succeeded" else None)


def verified_events(raw_body: bytes, signature_header: str | None) -> list[ProviderEvent]:
    event = verify(raw_body, signature_header)
    try:
        return provider_events(event)
    except (ProviderUnavailable, ProviderRefused) as exc:
        # A dispute's order is looked up at Stripe: not answerable now, Stripe delivers the event again.
        get_logger("payments").warning("a Stripe event could not be read yet", extra={"why": str(exc)})
        raise
