"""Notifications against the gateways' interfaces: fake staff list and mailer, no Cognito or SES call."""
from __future__ import annotations

import pytest

from tests.fakes import FakeIdentityProvider, FakeMailer, auth
from tests.notifications.test_email import email_status
from tests.notifications.test_notifications import RETRIED, notify
from tests.shop import call, checkout, placed_order, product, put_in_basket

ANN = auth("ann", email="ann@example.com")


@pytest.fixture
def mail(client, monkeypatch):
    """Sending on, through a fake mailer; the staff are whoever the fake identity provider names."""
    from chalicelib.core.gateways import replaced
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("SEND_EMAIL", "true")
    monkeypatch.setenv("EMAIL_SENDER", "shop@example.com")
    reset_settings()
    mailer = FakeMailer()
    with replaced(mailer=mailer, identity_provider=FakeIdentityProvider(admins=["boss-1", "boss-2"])):
        yield mailer
    reset_settings()


def test_low_stock_reaches_every_admin_the_identity_provider_names(client, bus, mail):
    mug = product(client, stock=6)
    put_in_basket(client, ANN, mug["id"], 2)
    checkout(client, ANN)
    notify(client, bus.of_type("LowStock")[0])
    for admin in ("boss-1", "boss-2"):
        feed = call(client, "get", "/me/notifications", headers=auth(admin, groups=["admin"])).json["items"]
        assert [n["kind"] for n in feed] == ["LOW_STOCK"]


def test_an_email_the_mailer_refused_goes_out_once_on_the_next_delivery(client, bus, mail):
    assert call(client, "get", "/me", headers=ANN).status_code == 200  # Ann's profile holds her address
    placed_order(client, ANN, bus=bus)
    created = bus.of_type("OrderCreated")[0]
    mail.refusing = "MessageRejected"
    assert notify(client, created) == RETRIED
    assert mail.sent == [] and email_status("ann", created.id) == "PENDING"
    mail.refusing = None
    notify(client, created)
    notify(client, created)
    assert [(to, subject) for to, subject, _ in mail.sent] == [("ann@example.com", "Order received")]
    assert email_status("ann", created.id) == "SENT"
