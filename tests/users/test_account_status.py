"""The account check's per-container cache: free on most requests, never stale beyond its bound."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.core import ids
from chalicelib.users import account_status
from tests.conftest import json_of
from tests.fakes import ADMIN, auth

JSON = {"Content-Type": "application/json"}
BOUND = 60  # the default ACCOUNT_STATUS_TTL_SECONDS


class Clock:
    def __init__(self):
        self.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    moment = Clock()
    ids.set_clock(moment)
    yield moment
    ids.set_clock(None)


def _set_status_elsewhere(user_id: str, status: str) -> None:
    """What another container's suspension or erasure leaves in the table (and not in this cache)."""
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName="shop-local", Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "PROFILE"}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}})


def _customer(client, name):
    headers = auth(name)
    assert client.http.get("/me", headers=headers).status_code == 200  # profile made, status remembered
    return headers


@pytest.mark.parametrize("status", ["SUSPENDED", "ERASED"])
def test_an_account_deactivated_in_another_container_is_refused_within_the_bound(client, clock, status):
    headers = _customer(client, "far-away")
    _set_status_elsewhere("far-away", status)
    clock.advance(BOUND - 1)
    assert client.http.get("/me", headers=headers).status_code == 200  # still within the bound
    clock.advance(1)
    refused = client.http.get("/orders", headers=headers)
    assert refused.status_code == 401 and json_of(refused)["error"]["code"] == "ACCOUNT_INACTIVE"


def test_requests_inside_the_bound_never_stretch_it(client, clock):
    headers = _customer(client, "busy")
    _set_status_elsewhere("busy", "SUSPENDED")
    for _ in range(BOUND // 10):  # a hit does not renew the entry
        clock.advance(10)
        client.http.get("/orders", headers=headers)
    assert client.http.get("/orders", headers=headers).status_code == 401


def test_a_suspension_takes_effect_at_once_in_the_container_that_made_it(client, clock):
    headers = _customer(client, "here")
    response = client.http.patch("/admin/users/here", headers={**JSON, **ADMIN},
                                 body=json.dumps({"status": "SUSPENDED"}))
    assert response.status_code == 200
    assert client.http.get("/me", headers=headers).status_code == 401
    client.http.patch("/admin/users/here", headers={**JSON, **ADMIN}, body=json.dumps({"status": "ACTIVE"}))
    assert client.http.get("/me", headers=headers).status_code == 200  # reactivation too


def test_an_erasure_takes_effect_at_once_in_the_container_that_made_it(client, clock):
    headers = _customer(client, "leaving")
    assert client.http.delete("/me", headers=headers).status_code == 202
    assert client.http.get("/basket", headers=headers).status_code == 401


def test_a_clock_that_goes_back_reads_the_status_again(client, clock):
    headers = _customer(client, "skewed")
    _set_status_elsewhere("skewed", "SUSPENDED")
    clock.advance(-5)
    assert client.http.get("/me", headers=headers).status_code == 401


def test_a_zero_bound_reads_the_status_on_every_request(client, clock, monkeypatch):
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("ACCOUNT_STATUS_TTL_SECONDS", "0")
    reset_settings()
    headers = _customer(client, "strict")
    _set_status_elsewhere("strict", "SUSPENDED")
    assert client.http.get("/me", headers=headers).status_code == 401
    assert account_status.remembered() == 0


def test_the_cache_is_per_container_and_bounded(monkeypatch, clock):
    monkeypatch.setattr(account_status, "MAX_ENTRIES", 3)
    reads = []

    def read(user_id):
        reads.append(user_id)
        return "ACTIVE"

    for user_id in ("a", "b", "c", "a", "d"):  # "a" used again, so "b" is the least recently used
        account_status.status_of(user_id, read)
    assert account_status.remembered() == 3
    assert reads == ["a", "b", "c", "d"]
    account_status.status_of("b", read)
    assert reads[-1] == "b"  # evicted, so read again
    account_status.status_of("a", read)
    assert reads[-1] == "b"  # still remembered


def test_a_request_within_the_bound_costs_no_read(client, clock, monkeypatch):
    headers = _customer(client, "cheap")
    from chalicelib.users.repository import UserRepository

    def unexpected(self, user_id):
        raise AssertionError("status read again within the bound")

    monkeypatch.setattr(UserRepository, "status_of", unexpected)
    assert client.http.get("/orders", headers=headers).status_code == 200
