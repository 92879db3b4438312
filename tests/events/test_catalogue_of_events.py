"""The event catalogue: one model and one committed schema per event type, enforced both ways."""
from __future__ import annotations

import pathlib

import pytest

from chalicelib.core.events import EVENT_TYPES, Envelope, InvalidEvent, envelope, load_event_types, publish

EXPECTED = {"CheckoutRequested", "OrderCreated", "OrderStatusChanged", "OrderCancelled", "ProductCreated",
            "ProductUpdated", "StockAdjusted", "ProductArchived", "LowStock", "UserRegistered", "UserErased",
            "UserStatusChanged"}


def test_every_event_type_has_a_model():
    assert EXPECTED <= set(load_event_types())


def test_committed_schemas_match_the_models():
    from tools.event_schemas import TARGET, render

    committed = {p.name: p.read_text() for p in pathlib.Path(TARGET).glob("*.schema.json")}
    assert committed == render(), "event schemas are stale: run `make schemas` and commit docs/events/"


def test_every_model_names_its_audited_entity():
    from typing import get_args

    from chalicelib.audit.models import EntityType

    for name, model in load_event_types().items():
        assert model.entity_type in get_args(EntityType), name  # what GET /admin/audit?entityType= takes
        assert model.entity_id_field in model.model_fields, name


def test_publisher_refuses_an_event_its_consumers_would_refuse(aws):
    bad = Envelope(type="OrderCreated", data={"orderId": "o1"})
    with pytest.raises(InvalidEvent):
        publish([bad])
    with pytest.raises(InvalidEvent):
        publish([Envelope(type="NoSuchEvent", data={})])


def test_envelope_carries_the_current_correlation_id():
    from chalicelib.core.logs import correlation_id_var
    from chalicelib.users.events import UserRegistered

    token = correlation_id_var.set("corr-123")
    try:
        event = envelope(UserRegistered(user_id="u1"), actor="u1")
    finally:
        correlation_id_var.reset(token)
    assert (event.correlationId, event.type, event.data) == ("corr-123", "UserRegistered", {"userId": "u1"})
    assert EVENT_TYPES["UserRegistered"].model_validate(event.data).entity_id == "u1"


def test_a_consumer_that_never_imported_the_publishing_domain_still_knows_its_events():
    """Each function is its own container: the audit recorder reads catalogue events it never imported."""
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from chalicelib.core.events import Envelope\n"
            "assert 'chalicelib.catalogue.events' not in sys.modules\n"
            "data = {'productId': 'p1', 'name': 'Mug', 'category': 'kitchen', 'version': 1,"
            " 'variants': [{'variantId': 'p1', 'prices': {'EUR': 900}, 'stock': 3}]}\n"
            "print(type(Envelope(type='ProductCreated', data=data).parsed()).__name__)\n")
    root = pathlib.Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ProductCreated", result.stderr
