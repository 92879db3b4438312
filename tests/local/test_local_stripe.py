"""`make run`'s Stripe: localstripe started with the stack, its test keys in the stack's secret (read by the two
functions that talk to Stripe under their own roles, no other), its events signed to the API's Stripe webhook,
and a banner line with what a developer needs to sign an event by hand."""
from __future__ import annotations

import json
import os
import re
import socket
import time

import pytest
import stripe as stripe_library

from local.stripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe
from tests.fakes import http_receiver
from tests.stripe_server import localstripe


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signed_event(received: list, path: str, timeout: float = 10) -> stripe_library.Event:
    """The first event localstripe delivered to `path` (it sends each a second after it happens), its signature
    checked as the API checks it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for got_path, headers, body in received:
            if got_path == path:
                return stripe_library.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
        time.sleep(0.1)
    raise AssertionError(f"no event reached {path}: {received}")


def test_the_stack_starts_localstripe_puts_its_keys_in_the_secret_and_sends_its_events_to_the_api(
        stack, client_for, tmp_path, monkeypatch):
    from local.run import _local_stripe

    monkeypatch.delenv("LOCAL_STRIPE_PORT", raising=False)
    for name in ("STRIPE_API_BASE", "STRIPE_PUBLISHABLE_KEY"):
        monkeypatch.setenv(name, "")  # restored after the test: _local_stripe sets them for the functions
    secrets = client_for("secretsmanager")
    with http_receiver() as (api_url, received):
        server = _local_stripe(tmp_path, secrets, stack.refs["StripeSecret"], api_url)
        try:
            assert os.environ["STRIPE_API_BASE"] == server.url and re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
            assert os.environ["STRIPE_PUBLISHABLE_KEY"] == PUBLISHABLE_KEY
            stored = json.loads(secrets.get_secret_value(SecretId="shop/local/stripe")["SecretString"])
            assert stored == {"secretKey": SECRET_KEY, "webhookSecret": WEBHOOK_SECRET}
            client = stripe_library.StripeClient(SECRET_KEY, base_addresses={"api": server.url})
            customer = client.v1.customers.create(params={"email": "shopper@example.com"})
            event = _signed_event(received, "/webhooks/stripe")
            assert (event.type, event.data.object.id) == ("customer.created", customer.id)
            assert (tmp_path / "stripe.log").exists()
        finally:
            server.stop()
    assert not server.running()


def test_the_banner_names_the_local_stripe_and_the_keys_to_sign_an_event_by_hand(monkeypatch, capsys):
    from local import run

    monkeypatch.setattr(run, "_throttling", lambda: "off")
    run._banner(8123, "http://127.0.0.1:5000", "new", {}, ["api_handler", "payment_provider"],
                stripe_url="http://127.0.0.1:8420")
    text = capsys.readouterr().out
    (line,) = [line for line in text.splitlines() if "Stripe (local)" in line]
    assert re.match(r"^\s+Stripe \(local\) \.+ http://127\.0\.0\.1:8420\b", line)
    assert PUBLISHABLE_KEY in line and SECRET_KEY in line and WEBHOOK_SECRET in line
    assert "http://127.0.0.1:8123/webhooks/stripe" in line
    assert "paid back through the local Stripe" in text
    run._banner(8123, "http://127.0.0.1:5000", "new", {}, ["api_handler"], refunds_confirmed=True)
    generic = capsys.readouterr().out
    assert "Stripe (local)" not in generic and "/webhooks/payments" in generic


def test_the_stripe_secret_is_read_by_the_api_and_the_payment_provider_under_their_roles_and_no_other(aws):
    import boto3

    from local import identities

    secrets = boto3.client("secretsmanager")
    secrets.put_secret_value(SecretId="shop/local/stripe",
                             SecretString=json.dumps({"secretKey": SECRET_KEY, "webhookSecret": WEBHOOK_SECRET}))
    for function in ("api_handler", "payment_provider"):
        with identities.running_as(function):
            value = boto3.client("secretsmanager").get_secret_value(SecretId="shop/local/stripe")
            assert json.loads(value["SecretString"])["secretKey"] == SECRET_KEY
    for function in ("notify", "housekeeping", "create_orders"):
        with identities.running_as(function), pytest.raises(secrets.exceptions.ClientError) as refused:
            boto3.client("secretsmanager").get_secret_value(SecretId="shop/local/stripe")
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", function


def test_only_the_api_and_the_payment_provider_are_given_the_local_stripe_secret(monkeypatch):
    """The local stage names the secret to the two functions that read it, as the template does in AWS."""
    from chalice.cli.factory import CLIFactory

    from local.function import ROOT, STAGE

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name=STAGE)
    from tools.merge_template import FUNCTIONS

    given = {name for name, _ in FUNCTIONS.values()
             if config.scope(STAGE, name).environment_variables.get("STRIPE_SECRET")}
    assert given == {"api_handler", "payment_provider"}


def test_localstripe_takes_its_port_from_the_setting_and_says_when_it_is_taken(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LOCAL_STRIPE_PORT", str(taken.getsockname()[1]))
        server = LocalStripe()
        assert server.port == taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="is port .* taken"):
            server.start()


def test_the_test_helper_answers_before_the_block_and_is_gone_after_it():
    with localstripe() as server:
        pid = server.pid
        client = stripe_library.StripeClient(SECRET_KEY, base_addresses={"api": server.url})
        intent = client.v1.payment_intents.create(params={"amount": 1250, "currency": "eur"})
        assert (intent.amount, intent.status) == (1250, "requires_payment_method")
        server.clear()
        with pytest.raises(stripe_library.InvalidRequestError):
            client.v1.payment_intents.retrieve(intent.id)
    assert not _alive(pid)


def test_the_local_stripe_listens_on_the_loopback_address_only_and_writes_nothing_to_disk(tmp_path):
    """localstripe's own command listens on every interface and pickles its whole store to one file in /tmp, shared
    by every instance on the machine, after each write."""
    pickle = "/tmp/localstripe.pickle"
    before = os.stat(pickle).st_mtime_ns if os.path.exists(pickle) else None
    with localstripe() as server:
        client = stripe_library.StripeClient(SECRET_KEY, base_addresses={"api": server.url})
        client.v1.customers.create(params={"email": "shopper@example.com"})
        listening = _listening_addresses(server.port)
    assert listening == {"127.0.0.1"}, listening
    assert (os.stat(pickle).st_mtime_ns if os.path.exists(pickle) else None) == before


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    addresses = set()
    for table, size in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                    raw = bytes.fromhex(address)
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    addresses.add(socket.inet_ntop(socket.AF_INET if size == 8 else socket.AF_INET6, words))
    return addresses


@pytest.mark.parametrize(("function", "given"), [("payment_provider", True), ("api_handler", True), ("notify", False)])
def test_each_function_process_gets_the_stripe_secret_only_if_the_stage_gives_it_to_that_function(function, given):
    """Chalice's configuration loads the app with the API's settings; a worker of another function then has its own
    settings, not the API's."""
    import subprocess
    import sys

    from local.function import ROOT

    code = ("import os; from local.function import load_app; load_app(os.environ['FUNCTION']); "
            "print(os.environ.get('STRIPE_SECRET', ''))")
    environment = {k: v for k, v in os.environ.items() if k != "STRIPE_SECRET"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**environment, "FUNCTION": function},
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1:] == (["shop/local/stripe"] if given else [])
