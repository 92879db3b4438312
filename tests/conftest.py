"""Shared fixtures: an in-process AWS (moto) with the stack's resources, and the app's test client."""
from __future__ import annotations

import json
import os

import pytest

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "STAGE": "local", "TABLE_NAME": "shop-local",
    "EVENT_BUS_NAME": "shop-local", "LOG_LEVEL": "DEBUG",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    _forget_caches()
    yield
    _forget_caches()


def _forget_caches():
    from chalicelib.core.aws import reset_clients
    from chalicelib.core.settings import reset_settings

    reset_settings()
    reset_clients()
    from chalicelib.core.dynamo import cursor_key

    cursor_key.cache_clear()  # each test's emulator generates its own key
    from chalicelib.users import account_status

    account_status.forget()  # each test's accounts are its own
    from chalicelib.core import read_cache

    read_cache.clear()  # each test's rates and methods are its own
    import sys

    adapter = sys.modules.get("chalicelib.payments.stripe_adapter")  # never imported here: it loads Stripe's library
    if adapter is not None:
        adapter.keys.cache_clear()  # each test's stage secret is its own


@pytest.fixture
def policies():
    """Replace a function's policy file for one test (override this fixture): {"housekeeping": {...}}."""
    return {}


@pytest.fixture
def stack_parameters():
    """Template parameters the policies resolve (override this fixture): {"EmailIdentity": "shop@example.com"}."""
    return {}


@pytest.fixture
def aws(policies, stack_parameters):
    """moto in-process with the resources the stack declares, IAM enforced per function (see tests/stack.py)."""
    from moto import mock_aws
    from moto.core.authorization import enable_iam_authentication

    from local import identities
    from tests.stack import create_stack

    with mock_aws(), enable_iam_authentication():
        stack = create_stack(policies, stack_parameters)
        os.environ["USER_POOL_ID"] = stack["user_pool_id"]
        os.environ["USER_POOL_CLIENT_ID"] = stack["user_pool_client_id"]
        _forget_caches()
        try:
            yield stack
        finally:
            identities.unbind()


@pytest.fixture
def client(aws):
    from app import app
    from tests.stack import FunctionClient

    # The local stage: its environment variables are what the client applies.
    with FunctionClient(app, stage_name="local") as test_client:
        yield test_client


def json_of(response) -> dict:
    return json.loads(response.body)


@pytest.fixture
def bus(monkeypatch):
    """Captures every event the app publishes (publisher, outbox and order pipeline alike)."""
    from tests.shop import PUBLISHERS, Bus

    captured = Bus()
    for where in PUBLISHERS:
        monkeypatch.setattr(where, captured.publish)
    return captured


@pytest.fixture
def published():
    """Captures every event the app publishes and still puts it on the (moto) bus."""
    from tests.shop import published_through

    with published_through() as captured:
        yield captured


@pytest.fixture
def between(monkeypatch):
    """between(Class, "method", competitor): the competitor runs once, just before that method's first call."""

    def install(owner, name, competitor):
        original = getattr(owner, name)
        state = {"ran": False}

        def wrapped(*args, **kwargs):
            if not state["ran"]:
                state["ran"] = True
                competitor()
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)
        return state

    return install


@pytest.fixture
def atomic_dynamodb(monkeypatch):
    """DynamoDB applies each request atomically; in-process moto does not, so serialise its requests.

    Only single requests become atomic: the reads, decisions and writes of concurrent
    checkouts still interleave freely, which is what the tests using it are about.
    """
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
