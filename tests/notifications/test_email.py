"""Emails are sent at least once: pending with the notification, settled once SES took them.

The notifier runs under its own policy, which may send only as the stack's SES identity
(the `EmailIdentity` parameter); the operator verifies that identity in the emulator.
"""
from __future__ import annotations

import boto3
import pytest

from tests.fakes import ADMIN, auth
from tests.notifications.test_notifications import DELIVERED, RETRIED, notify
from tests.shop import call, placed_order

SENDER = "shop@example.com"
ANN = auth("ann", email="ann@example.com")


@pytest.fixture
def stack_parameters():
    return {"EmailIdentity": SENDER}


@pytest.fixture
def email_on(client, monkeypatch):
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("SEND_EMAIL", "true")
    monkeypatch.setenv("EMAIL_SENDER", SENDER)
    reset_settings()
    yield
    reset_settings()


def verify_sender():
    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)


def sent():
    """(to, subject) of every email SES took."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [(message.destinations["ToAddresses"], message.subject)
            for message in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]


def email_status(user_id, notification_id):
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="shop-local", Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"NOTIFICATION#{notification_id}"}})
    return item["Item"]["email_status"]["S"] if "email_status" in item.get("Item", {}) else None


def order_created(client, bus):
    """Ann (with a profile holding her address) places an order: its OrderCreated event."""
    assert call(client, "get", "/me", headers=ANN).json["email"] == "ann@example.com"
    placed_order(client, ANN, bus=bus)
    return bus.of_type("OrderCreated")[0]


def test_an_email_is_sent_once_however_often_the_event_comes(client, bus, email_on):
    verify_sender()
    created = order_created(client, bus)
    notify(client, created)
    notify(client, created)
    assert sent() == [(["ann@example.com"], "Order received")]
    assert email_status("ann", created.id) == "SENT"


def test_an_email_ses_refused_is_sent_when_the_event_comes_again(client, bus, email_on, capsys):
    created = order_created(client, bus)
    assert notify(client, created) == RETRIED  # the sender is not verified yet: SES refuses
    assert sent() == [] and email_status("ann", created.id) == "PENDING"
    logged = capsys.readouterr().out
    assert "not sent" in logged and "ann@example.com" not in logged  # logged without the address
    verify_sender()
    assert notify(client, created) == DELIVERED  # the queue's next delivery (or a redrive from its DLQ)
    assert sent() == [(["ann@example.com"], "Order received")]
    assert email_status("ann", created.id) == "SENT"
    notes = call(client, "get", "/me/notifications", headers=ANN).json["items"]
    assert [n["id"] for n in notes] == [created.id]
    notify(client, created)
    assert len(sent()) == 1


def test_a_suspended_users_email_is_skipped_not_left_pending(client, bus, email_on):
    verify_sender()
    created = order_created(client, bus)
    assert call(client, "patch", "/admin/users/ann", {"status": "SUSPENDED"}, ADMIN).status_code == 200
    notify(client, created)
    notify(client, created)
    assert sent() == []
    assert email_status("ann", created.id) == "SKIPPED"


def test_with_sending_off_nothing_is_pending(client, bus):
    created = order_created(client, bus)
    notify(client, created)
    assert sent() == [] and email_status("ann", created.id) is None


class TestWithoutTheEmailIdentity:
    @pytest.fixture
    def stack_parameters(self):
        return {}  # the template's default: the notifier may send as no identity

    def test_the_notifier_may_not_send_and_the_email_stays_pending(self, client, bus, email_on, capsys):
        verify_sender()
        created = order_created(client, bus)
        assert notify(client, created) == RETRIED
        assert "AccessDenied function=notify action=ses:SendEmail" in capsys.readouterr().err
        assert sent() == [] and email_status("ann", created.id) == "PENDING"


def test_two_deliveries_of_one_event_at_once_send_its_email_once(client, bus, email_on, between):
    """The bus and SQS deliver at least once: a second delivery sent the email between the first one's record
    and its send, and the first sent it again."""
    from chalicelib.notifications.service import NotificationService

    verify_sender()
    created = order_created(client, bus)
    between(NotificationService, "_email", lambda: notify(client, created))
    notify(client, created)
    assert sent() == [(["ann@example.com"], "Order received")]
    assert email_status("ann", created.id) == "SENT"


def test_an_email_whose_sender_died_is_sent_by_the_next_delivery(client, bus, email_on, monkeypatch):
    """A claim is a lease: one never settled (the sender timed out) lapses, and a retry sends the email."""
    from datetime import UTC, datetime, timedelta

    from chalicelib.core.ids import set_clock

    verify_sender()
    created = order_created(client, bus)
    class Killed:  # the invocation times out while SES is being called: nothing after runs
        def send(self, *args):
            raise TimeoutError("the function was stopped")

    with monkeypatch.context() as dying:
        dying.setattr("chalicelib.notifications.service.mailer", Killed)
        assert notify(client, created) == RETRIED  # the queue delivers it again; the claim was never settled
    notify(client, created)  # at once: the claim holds, nothing is sent twice
    assert sent() == []
    set_clock(lambda: datetime.now(UTC) + timedelta(minutes=5))
    try:
        notify(client, created)
    finally:
        set_clock(None)
    assert sent() == [(["ann@example.com"], "Order received")] and email_status("ann", created.id) == "SENT"
