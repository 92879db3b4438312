"""Each function runs under its own policy file: one action taken away, and the flow that needs it fails as in AWS."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.identities import policy_document
from tests.fakes import ADMIN, auth
from tests.shop import call, placed_order, stock_of, sweep

ANN = auth("ann")


def without(function: str, action: str) -> dict:
    """The function's real policy file, minus one action."""
    document = policy_document("local", function)
    for statement in document["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    document["Statement"] = [s for s in document["Statement"] if s["Action"]]
    return document


class TestSweepWithoutPutItem:
    @pytest.fixture
    def policies(self):
        return {"housekeeping": without("housekeeping", "dynamodb:PutItem")}

    def test_cancelling_an_overdue_order_is_refused_and_nothing_is_half_written(self, client, bus, monkeypatch,
                                                                                capsys):
        order, product_id = placed_order(client, ANN, quantity=2, stock=5)
        monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
        report = sweep(client)  # the sweep isolates the failing item: counted, logged, skipped
        assert (report["cancelledUnpaid"], report["failures"]) == (0, 1)
        output = capsys.readouterr()
        assert ("AccessDenied function=housekeeping action=dynamodb:PutItem "
                "resource=arn:aws:dynamodb:us-east-1:123456789012:table/shop-local") in output.err
        assert "assumed-role/shop-local-housekeeping/housekeeping is not authorized to perform: dynamodb:PutItem" \
            in output.out  # the function's own log line carries AWS's sentence
        # the transaction was refused whole: the order is still pending and its stock still reserved
        assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PENDING"
        assert stock_of(client, product_id) == 3


class TestSuspensionWithoutDisableUser:
    @pytest.fixture
    def policies(self):
        return {"api_handler": without("api_handler", "cognito-idp:AdminDisableUser")}

    def test_the_request_fails_and_the_account_stays_active(self, client, capsys):
        assert call(client, "get", "/me", headers=auth("sue")).status_code == 200
        response = call(client, "patch", "/admin/users/sue", {"status": "SUSPENDED"}, ADMIN)
        assert response.status_code == 500 and response.json["error"]["code"] == "INTERNAL_ERROR"
        assert "AccessDenied function=api_handler action=cognito-idp:AdminDisableUser" in capsys.readouterr().err
        assert call(client, "get", "/me", headers=auth("sue")).status_code == 200  # not suspended


def test_with_the_real_policies_the_same_flows_succeed(client, bus, monkeypatch):
    placed_order(client, ANN)
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    assert sweep(client)["cancelledUnpaid"] == 1
    assert call(client, "get", "/me", headers=auth("sue")).status_code == 200
    assert call(client, "patch", "/admin/users/sue", {"status": "SUSPENDED"}, ADMIN).status_code == 200


def test_code_runs_with_the_keys_of_the_function_it_serves(aws):
    """The audit recorder may write the table but not read it; the API may read it."""
    from chalicelib.composition import Services
    from chalicelib.core.errors import NotFound
    from local.identities import running_as

    catalogue = Services().catalogue
    with running_as("record_audit"), pytest.raises(ClientError) as refused:
        catalogue.get("no-such-product")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    with running_as("api_handler"), pytest.raises(NotFound):
        catalogue.get("no-such-product")
