"""Every transaction that keeps an event in the outbox publishes it right after its commit: with the bus up,
no request or handler leaves an event waiting for the sweeper.

The writers are found in the code (every function that builds an outbox record), then walked one at a time
through the API and the handlers, with the queue checked empty after each step; a writer the walk does not
reach fails the test, so a new one must be walked too.
"""
from __future__ import annotations

import ast
import pathlib
import sys
import uuid

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import call, checkout, deliver, eventbridge_body, pay, product, put_in_basket

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDERS = {"outbox_puts", "outbox_put", "outbox_fields"}  # what makes an outbox record (core/outbox.py)


def outbox_writers() -> dict[str, set[str]]:
    """module -> qualified names of its functions that build an outbox record (outside core/outbox.py)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module == "chalicelib.core.outbox":
            continue

        class Visitor(ast.NodeVisitor):
            """Qualified names as Python spells them (`co_qualname`): `Class.method.<locals>.inner`."""

            def __init__(self):
                self.scope: list[str] = []
                self.in_function = [False]

            def _scoped(self, node, is_function):
                self.scope.append(("<locals>." if self.in_function[-1] else "") + node.name)
                self.in_function.append(is_function)
                self.generic_visit(node)
                self.in_function.pop()
                self.scope.pop()

            def visit_ClassDef(self, node):
                self._scoped(node, False)

            def visit_FunctionDef(self, node):
                self._scoped(node, True)

            visit_AsyncFunctionDef = visit_FunctionDef

            def visit_Call(self, node):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in BUILDERS:
                    found.setdefault(module, set()).add(".".join(self.scope))
                self.generic_visit(node)

        Visitor().visit(ast.parse(path.read_text()))
    return found


WRITERS = outbox_writers()


def test_the_writers_are_found():
    names = {f"{module}:{name}" for module, names in WRITERS.items() for name in names}
    assert {"chalicelib.payments.repository:PaymentLedger.record", "chalicelib.orders.repository:OrderRepository.save",
            "chalicelib.orders.repository:CheckoutRepository.commit"} <= names, names


@pytest.fixture
def walk(client, bus, monkeypatch):
    """Records which writer built each outbox record; `step(label)` asserts nothing waits in the outbox."""
    import importlib

    from chalicelib.core import outbox
    from chalicelib.core.dynamo import query_page
    from chalicelib.core.outbox import PARTITION

    seen: set[str] = set()

    def recording(original):
        def record(*args, **kwargs):
            caller = sys._getframe(1)
            seen.add(f"{caller.f_globals['__name__']}:{caller.f_code.co_qualname}")
            return original(*args, **kwargs)
        return record

    originals = {builder: getattr(outbox, builder) for builder in BUILDERS}
    # Where a writer imports a builder: at its module's top (its own name for it) or in the function that writes.
    for builder, original in originals.items():
        monkeypatch.setattr(outbox, builder, recording(original))
    for module_name in WRITERS:
        module = importlib.import_module(module_name)
        for builder in BUILDERS & set(vars(module)):
            monkeypatch.setattr(module, builder, recording(originals[builder]))

    def step(label: str) -> None:
        waiting = query_page(PARTITION, index="GSI3", limit=100).items
        assert waiting == [], f"after {label}, the outbox still holds {[i.get('outbox_event') for i in waiting]}"

    step.seen = seen
    return step


def test_every_writer_of_an_outbox_record_publishes_it_right_after_its_commit(client, bus, walk):
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders.repository import CheckoutRepository

    ann = auth("ann")
    # users: registration, a suspension and its lifting, an erasure
    registered = call(client, "post", "/auth/register", {"email": "walk@example.com", "password": "Str0ngpass",
                                                         "name": "Walk"})
    assert registered.status_code == 201, registered.body
    walk("a registration")
    again = call(client, "post", "/auth/register", {"email": "walk@example.com", "password": "Str0ngpass",
                                                    "name": "Walk"})
    assert again.status_code == 201 and again.json["userId"] != registered.json["userId"], again.body
    walk("a registration of a taken email (its holder told)")
    for status in ("SUSPENDED", "ACTIVE"):
        assert call(client, "patch", f"/admin/users/{registered.json['userId']}", {"status": status},
                    ADMIN).status_code == 200
        walk(f"a move to {status}")
    assert call(client, "delete", "/me", headers=auth("leaver")).status_code == 202
    walk("an erasure")

    # the catalogue: a product made, edited, restocked; promotions made and edited
    item = product(client, stock=10, price=1000)
    walk("a new product")
    assert call(client, "patch", f"/products/{item['id']}", {"name": "Walked", "version": 1}, ADMIN).status_code == 200
    walk("a product edit")
    assert call(client, "post", f"/products/{item['id']}/stock", {"delta": 2, "reason": "count"},
                ADMIN).status_code == 200
    walk("a stock adjustment")
    sized = call(client, "post", "/products", {
        "name": "Walked tee", "category": "clothes", "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [{"sku": "WALK-S", "options": {"Size": "S"}, "prices": [{"currency": "EUR", "amount": 900}]}]},
        ADMIN)
    assert sized.status_code == 201, sized.body
    added = call(client, "post", f"/products/{sized.json['id']}/variants",
                 {"sku": "WALK-M", "options": {"Size": "M"}, "prices": [{"currency": "EUR", "amount": 950}]}, ADMIN)
    assert added.status_code == 201, added.body
    walk("a variant added")
    edited = call(client, "patch", f"/products/{sized.json['id']}/variants/{added.json['id']}",
                  {"prices": [{"currency": "EUR", "amount": 990}], "version": added.json["version"]}, ADMIN)
    assert edited.status_code == 200, edited.body
    walk("a variant edited")
    assert call(client, "post", "/admin/promotions", {"code": "WALK5", "percentOff": 5, "oncePerCustomer": False},
                ADMIN).status_code == 201
    walk("a new promotion")
    assert call(client, "patch", "/admin/promotions/WALK5", {"active": False}, ADMIN).status_code == 200
    walk("a promotion edit")
    assert call(client, "put", "/admin/tax-rates/BE/standard", {"ratePercent": 21}, ADMIN).status_code == 200
    walk("a tax rate set")
    assert call(client, "delete", "/admin/tax-rates/BE/standard", headers=ADMIN).status_code == 204
    walk("a tax rate removed")
    method = call(client, "post", "/admin/shipping-methods", {"name": "Walk", "zones": ["BE"],
                                                               "rates": [{"currency": "EUR", "amount": 0}]}, ADMIN)
    assert method.status_code == 201, method.body
    walk("a new shipping method")
    assert call(client, "patch", f"/admin/shipping-methods/{method.json['id']}", {"name": "Walked"},
                ADMIN).status_code == 200
    walk("a shipping method edit")
    _image_validated(client, item["id"])
    walk("an image validated")

    # an order: checked out, made, paid; a payment nobody's, a failure after the payment
    put_in_basket(client, ann, item["id"], 3)
    accepted = checkout(client, ann).json
    walk("a checkout")
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=ann).json
    assert pay(client, order).json["outcome"] == "APPLIED"
    walk("a payment applied")
    assert pay(client, {**order, "id": uuid.uuid4().hex}).json["outcome"] == "REVIEW"
    walk("a payment for no order (REVIEW)")
    assert pay(client, order, amount=1).json["outcome"] == "REVIEW"
    walk("a payment of another amount (REVIEW)")
    assert pay(client, order, "payment.failed").json["outcome"] == "IGNORED"
    walk("a failure after the payment (IGNORED)")

    # refunds: asked for, confirmed, confirmed again under another id, one nobody asked for
    refund = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 500, "reason": "walk"},
                  {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}).json
    walk("a refund requested")
    assert pay(client, order, "refund.succeeded", refundId=refund["id"], amount=500).json["outcome"] == "APPLIED"
    walk("a refund confirmed")
    assert pay(client, order, "refund.succeeded", refundId=refund["id"], amount=500).json["outcome"] == "IGNORED"
    walk("a refund confirmed again (IGNORED)")
    assert pay(client, order, "refund.failed", refundId="no-such-refund", amount=500).json["outcome"] == "REVIEW"
    walk("a verdict on no refund (REVIEW)")

    # a transition and a cancellation
    assert call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"}, ADMIN).status_code == 200
    walk("an order shipped")
    put_in_basket(client, ann, item["id"], 1)
    second = checkout(client, ann).json
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    assert call(client, "post", f"/orders/{second['orderId']}/cancel", headers=ann).status_code == 200
    walk("an order cancelled")
    assert CheckoutRepository(ProductRepository()).of_order(second["orderId"]) is not None
    put_in_basket(client, ann, item["id"], 1)
    third = checkout(client, ann).json
    walk("a checkout")
    early = pay(client, {"id": third["orderId"], "total": 1000, "currency": "EUR"})
    assert (early.json["outcome"], early.json["orderStatus"]) == ("APPLIED", "PAID"), early.body
    walk("an order made by its payment, ahead of the queue")

    # returns: asked for, received (refunded; with nothing left to refund), rejected
    assert call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "DELIVERED"},
                ADMIN).status_code == 200
    walk("an order delivered")
    returns = []
    for _ in range(3):
        asked = call(client, "post", f"/orders/{order['id']}/returns",
                     {"lines": [{"productId": item["id"], "quantity": 1}], "reason": "walk"},
                     {**ann, "Idempotency-Key": uuid.uuid4().hex})
        assert asked.status_code == 201, asked.body
        returns.append(asked.json)
        walk("a return requested")
    assert call(client, "post", f"/admin/returns/{returns[0]['id']}/receive", headers=ADMIN).json["refundId"]
    walk("a return received, its value refunded")
    everything = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "the rest"},
                      {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
    assert everything.status_code == 201, everything.body
    assert call(client, "post", f"/admin/returns/{returns[1]['id']}/receive", headers=ADMIN).json["refundId"] is None
    walk("a return received with nothing left to refund")
    assert call(client, "post", f"/admin/returns/{returns[2]['id']}/reject", {"reason": "worn"},
                ADMIN).status_code == 200
    walk("a return rejected")

    reached = {f"{module}:{name}" for module, names in WRITERS.items() for name in names}
    assert reached - walk.seen == set(), "writers of outbox records this walk never reached"


def _image_validated(client, product_id: str) -> None:
    """An upload straight into the bucket and the validator on it (READY: the event is kept, then published)."""
    import boto3

    from chalicelib.catalogue import keys
    from chalicelib.composition import Services
    from chalicelib.core.settings import settings
    from tests.catalogue.test_images import request_upload, tiny_png

    upload = request_upload(client, product_id).json
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=settings().images_bucket, Key=keys.upload_key(product_id, upload["imageId"]), Body=tiny_png())
    from local import identities

    with identities.running_as("validate_images"):
        assert Services().images.validate(keys.upload_key(product_id, upload["imageId"])) == "ready"
