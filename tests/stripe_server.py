"""A localstripe process for tests: `with localstripe() as stripe:` (or the `local_stripe` fixture) gives a
running `local.stripe.LocalStripe` on a free loopback port, answering before the block starts and stopped
after it.

    stripe.url                                   the API base, for the Stripe library's `api_base`
    stripe.register_webhook(url, secret=..., events=[...])   where it sends its signed events
    stripe.clear()                               forget every object (the webhooks stay)

Any `sk_test_...` key authenticates (`local.stripe.SECRET_KEY` is the stack's).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from local.stripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe

__all__ = ["PUBLISHABLE_KEY", "SECRET_KEY", "WEBHOOK_SECRET", "LocalStripe", "local_stripe", "localstripe"]


@contextlib.contextmanager
def localstripe(port: int | None = None) -> Iterator[LocalStripe]:
    server = LocalStripe(port).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    """One localstripe per test module (import it into the module or a conftest to use it)."""
    with localstripe() as server:
        yield server
