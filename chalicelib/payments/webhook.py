"""The edge of the payment webhook: the provider's signature checked before anything is believed."""
from __future__ import annotations

import functools

from chalicelib.core.errors import BadRequest, ServiceUnavailable, Unauthorized
from chalicelib.core.http import parse_body
from chalicelib.core.logs import get_logger
from chalicelib.core.settings import settings
from chalicelib.payments import signature
from chalicelib.payments.models import PaymentEvent, ProviderEvent


class WebhookNotConfigured(Exception):
    """This stage has no webhook secret it may use (the reason is the message)."""


@functools.lru_cache(maxsize=1)
def webhook_secret() -> str:
    """The shared secret: from SSM (SecureString) where configured; the plain setting on the local and
    test stages only. A deployed stage never falls back to the documented local default.

    Cached per container once read: one SSM call per cold start, none per request. A failure is not
    cached, so a parameter created after the deploy is picked up by the next webhook.
    """
    current = settings()
    parameter = current.payment_webhook_secret_parameter
    if parameter:
        from chalicelib.core.gateways import ProviderError, secrets

        try:
            value = secrets().get(parameter)
        except ProviderError as exc:
            raise WebhookNotConfigured(f"the SSM parameter {parameter} could not be read ({exc.code})") from None
        if not value.strip():
            raise WebhookNotConfigured(f"the SSM parameter {parameter} is empty")
        return value
    if current.deployed:
        raise WebhookNotConfigured(f"the {current.stage} stage names no PAYMENT_WEBHOOK_SECRET_PARAMETER")
    return current.payment_webhook_secret


def _secret() -> str:
    try:
        return webhook_secret()
    except WebhookNotConfigured as exc:
        get_logger("payments").error("webhook refused: no secret configured", extra={"why": str(exc)})
        raise ServiceUnavailable("Payment webhooks are not configured on this stage.",
                                 code="WEBHOOK_NOT_CONFIGURED") from None


def verified_event(raw_body: bytes, signature_header: str | None) -> PaymentEvent:
    """The provider's event, if the signature holds (401 if not) and the body is one (400/422 if not)."""
    try:
        signature.verify(_secret(), signature_header, raw_body)
    except signature.SignatureError as exc:
        get_logger("payments").warning("webhook refused", extra={"why": str(exc)})
        raise Unauthorized("The webhook signature is invalid.", code="INVALID_SIGNATURE") from None
    return parse_body(raw_body, PaymentEvent)


def stripe_events(raw_body: bytes, signature_header: str | None) -> list[ProviderEvent]:
    """What Stripe says, if `Stripe-Signature` holds (400 in the error shape if not, as Stripe's own endpoints
    answer), in the ledger's terms. 503 while the stage has no keys or Stripe cannot be asked what it needs (it
    delivers the event again)."""
    from chalicelib.payments import stripe_adapter
    from chalicelib.payments.provider import NotConfigured, ProviderRefused, ProviderUnavailable, unavailable

    try:
        return stripe_adapter.verified_events(raw_body, signature_header)
    except stripe_adapter.NotAStripeEvent as exc:
        get_logger("payments").warning("Stripe webhook refused", extra={"why": str(exc)})
        raise BadRequest("The signed body is not a Stripe event.", code="INVALID_EVENT") from None
    except stripe_adapter.InvalidStripeSignature as exc:
        get_logger("payments").warning("Stripe webhook refused", extra={"why": str(exc)})
        raise BadRequest("The Stripe-Signature header does not sign this body.", code="INVALID_SIGNATURE") from None
    except (NotConfigured, ProviderUnavailable, ProviderRefused) as exc:
        raise unavailable(exc) from None
