"""The edge of the payment webhook: the provider's signature checked before anything is believed."""
from __future__ import annotations

import functools

from chalicelib.core.errors import Unauthorized
from chalicelib.core.http import parse_body
from chalicelib.core.logs import get_logger
from chalicelib.core.settings import settings
from chalicelib.payments import signature
from chalicelib.payments.models import PaymentEvent


@functools.lru_cache(maxsize=1)
def webhook_secret() -> str:
    """The shared secret: from SSM (SecureString) where configured, else the stage's setting.

    Cached per container: one SSM call per cold start, none per request.
    """
    parameter = settings().payment_webhook_secret_parameter
    if parameter:
        from chalicelib.core.gateways import secrets

        return secrets().get(parameter)
    return settings().payment_webhook_secret


def verified_event(raw_body: bytes, signature_header: str | None) -> PaymentEvent:
    """The provider's event, if the signature holds (401 if not) and the body is one (400/422 if not)."""
    try:
        signature.verify(webhook_secret(), signature_header, raw_body)
    except signature.SignatureError as exc:
        get_logger("payments").warning("webhook refused", extra={"why": str(exc)})
        raise Unauthorized("The webhook signature is invalid.", code="INVALID_SIGNATURE") from None
    return parse_body(raw_body, PaymentEvent)
