"""Registration, suspension, reactivation and erasure are written with their events (outbox): a bus outage
delays them, never loses them, and each is announced once however often it is asked for."""
from __future__ import annotations

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import bus_down, call, kept, swept

PASSWORD = "Str0ngpass"


def registered(client, email):
    response = call(client, "post", "/auth/register", {"email": email, "password": PASSWORD, "name": "Sam"})
    assert response.status_code == 201, response.body
    return response.json["userId"]


def set_status(client, user_id, status):
    return call(client, "patch", f"/admin/users/{user_id}", {"status": status}, ADMIN)


def test_registration_with_the_bus_down_is_announced_by_the_sweeper(client, bus, monkeypatch):
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    user_id = registered(client, "down@example.com")
    assert call(client, "post", "/auth/login", {"email": "down@example.com", "password": PASSWORD}).status_code == 200
    assert [(e.type, e.data) for e in kept()] == [("UserRegistered", {"userId": user_id})]
    assert swept(client, bus, monkeypatch) == 1
    assert [(e.type, e.data, e.actor) for e in bus.events] == [("UserRegistered", {"userId": user_id}, user_id)]


@pytest.mark.parametrize("status", ["SUSPENDED", "ACTIVE"])
def test_a_status_change_with_the_bus_down_is_announced_by_the_sweeper(client, bus, monkeypatch, status):
    user_id = registered(client, f"{status.lower()}@example.com")
    if status == "ACTIVE":
        assert set_status(client, user_id, "SUSPENDED").status_code == 200
    bus.events.clear()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    response = set_status(client, user_id, status)
    assert response.status_code == 200
    assert (response.json["userId"], response.json["status"], response.json["email"]) == (
        user_id, status, f"{status.lower()}@example.com")
    assert [(e.type, e.data) for e in kept()] == [("UserStatusChanged", {"userId": user_id, "status": status})]
    assert swept(client, bus, monkeypatch) == 1
    assert [(e.type, e.data, e.actor) for e in bus.events] == [
        ("UserStatusChanged", {"userId": user_id, "status": status}, "admin-1")]


def test_erasure_with_the_bus_down_is_announced_by_the_sweeper_once(client, bus, monkeypatch):
    user_id = registered(client, "erase@example.com")
    headers = auth(user_id, email="erase@example.com")
    bus.events.clear()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    assert call(client, "delete", "/me", headers=headers).status_code == 202  # repeated: nothing more to announce
    assert [(e.type, e.data) for e in kept()] == [("UserErased", {"userId": user_id})]
    assert swept(client, bus, monkeypatch) == 1
    assert [(e.type, e.data) for e in bus.events] == [("UserErased", {"userId": user_id})]


def test_with_the_bus_up_each_change_is_published_once_and_nothing_is_kept(client, bus):
    user_id = registered(client, "up@example.com")
    for status in ("SUSPENDED", "SUSPENDED", "ACTIVE", "ACTIVE"):  # a repeat changes nothing, announces nothing
        assert set_status(client, user_id, status).json["status"] == status
    headers = auth(user_id, email="up@example.com")
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    assert [(e.type, e.data.get("status")) for e in bus.events] == [
        ("UserRegistered", None), ("UserStatusChanged", "SUSPENDED"), ("UserStatusChanged", "ACTIVE"),
        ("UserErased", None)]
    assert kept() == []


def test_a_status_change_racing_the_same_change_is_announced_once(client, bus, monkeypatch):
    from chalicelib.composition import Services
    from chalicelib.users.models import UserStatusChange
    from chalicelib.users.repository import UserRepository

    user_id = registered(client, "race@example.com")
    real_get = UserRepository.get_profile
    raced = []

    def get_then_race(self, wanted):  # another admin suspends the account right after our read
        found = real_get(self, wanted)
        if wanted == user_id and not raced:
            raced.append(True)
            Services().users.set_status(_staff("admin-2"), user_id, UserStatusChange(status="SUSPENDED"))
        return found

    monkeypatch.setattr(UserRepository, "get_profile", get_then_race)
    bus.events.clear()
    response = set_status(client, user_id, "SUSPENDED")
    assert response.status_code == 200 and response.json["status"] == "SUSPENDED"
    assert [(e.type, e.actor) for e in bus.events] == [("UserStatusChanged", "admin-2")]


def test_an_account_erased_before_its_first_request_cannot_be_recreated_from_its_token(client, bus):
    headers = auth("never-seen", email="never@example.com")
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    assert call(client, "get", "/me", headers=headers).status_code == 401
    assert [(e.type, e.data) for e in bus.events] == [("UserErased", {"userId": "never-seen"})]


def _staff(user_id):
    from chalicelib.core.auth import Caller

    return Caller(user_id=user_id, groups=frozenset({"admin"}))
