"""Every route x {anonymous, owner, another customer, admin, suspended user}.

The rows come from the app's own route table and each route's declared access, so a new
route is covered (or fails `test_every_route_is_documented_with_its_access`) automatically.
"""
from __future__ import annotations

import re

import pytest

from tests.fakes import auth
from tests.shop import ADDRESS, Bus, call, paying_through, placed_order
from tests.stripe_server import local_stripe  # noqa: F401 (fixture)

ROLES = ("anonymous", "owner", "other", "admin", "suspended")
HEADERS = {"anonymous": {}, "owner": auth("ann"), "other": auth("bob"), "admin": auth("boss", groups=["admin"]),
           "suspended": auth("sue")}
# Routes whose path id names something the owner has: another customer must get 404.
OWNED = {"/orders/{order_id}", "/orders/{order_id}/cancel", "/orders/{order_id}/returns",
         "/me/addresses/{address_id}", "/me/notifications/{notification_id}/read"}

SAMPLE_BODIES = {
    "AddressIn": ADDRESS, "ProfilePatch": {"name": "New Name"}, "QuantityChange": {"quantity": 1},
    "CheckoutRequest": {"shippingAddress": ADDRESS},
    "ProductCreate": {"name": "X", "category": "kitchen", "price": 100, "currency": "EUR"},
    "ProductPatch": {"description": "New", "version": 1}, "StockAdjustment": {"delta": 1, "reason": "count"},
    "VariantCreate": {"sku": "MATRIX-SKU", "prices": [{"currency": "EUR", "amount": 100}]},
    "VariantPatch": {"prices": [{"currency": "EUR", "amount": 200}], "version": 1},
    "BasketCurrency": {"currency": "EUR"},
    "UserStatusChange": {"status": "ACTIVE"}, "StatusChange": {"status": "PAID"},
    "LoginRequest": {"email": "x@example.com", "password": "x"}, "RefreshRequest": {"refreshToken": "x"},
    "RegisterRequest": {"email": "new@example.com", "password": "Str0ngpass", "name": "N"},
    "ConfirmRequest": {"email": "x@example.com", "code": "123456"}, "ForgotPasswordRequest": {"email": "x@example.com"},
    "ResetPasswordRequest": {"email": "x@example.com", "code": "123456", "password": "Str0ngpass"},
    "PaymentEvent": {"id": "evt", "type": "payment.succeeded", "orderId": "o", "amount": 1, "currency": "EUR"},
    "RefundRequest": {"reason": "matrix"}, "Rejection": {"reason": "matrix"},
    "ReturnRequest": {"lines": [{"productId": "p", "quantity": 1}], "reason": "matrix"},
    "ImageUploadRequest": {"contentType": "image/png", "contentLength": 100},
    "PromotionCreate": {"code": "MATRIX-NEW", "percentOff": 10, "oncePerCustomer": False},
    "PromotionPatch": {"active": False}, "PromotionCodeIn": {"code": "MATRIX10"},
    "TaxRateIn": {"ratePercent": 21}, "BasketAddress": ADDRESS, "ShippingChoice": {"id": "no-such-method"},
    "ShippingMethodCreate": {"name": "Matrix", "zones": ["BE"], "rates": [{"currency": "EUR", "amount": 100}]},
    "ShippingMethodPatch": {"minDays": 1},
    "ShipmentRequest": {"carrier": "DHL", "trackingNumber": "JD0146"},
}
SAMPLE_QUERIES = {"AdminOrderQuery": "?status=PENDING", "ReturnQuery": "?status=REQUESTED"}
# need an Idempotency-Key header
IDEMPOTENT = {"/basket/checkout", "/admin/orders/{order_id}/refunds", "/orders/{order_id}/returns",
              "/admin/orders/{order_id}/shipments"}


def _routes():
    from app import app
    from chalicelib.core.http import route_doc

    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            yield path, method, route_doc(entry.view_function)


ROUTES = list(_routes())


@pytest.fixture
def world(client, monkeypatch, local_stripe):  # noqa: F811
    """Ann owns an order, an address and a notification; Sue is suspended. The stage pays through a local Stripe."""
    paying_through(local_stripe, monkeypatch)
    bus = Bus()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    monkeypatch.setattr("chalicelib.core.events.publish", bus.publish)
    order, product_id = placed_order(client, HEADERS["owner"], bus=bus)
    address = call(client, "post", "/me/addresses", ADDRESS, HEADERS["owner"]).json
    from chalicelib.composition import Services

    Services().notifications.handle(bus.of_type("OrderCreated")[0])
    notification = call(client, "get", "/me/notifications", headers=HEADERS["owner"]).json["items"][0]
    call(client, "get", "/me", headers=HEADERS["suspended"])  # Sue is known, active (and remembered so)
    suspended = call(client, "patch", "/admin/users/sue", {"status": "SUSPENDED"}, HEADERS["admin"])
    assert suspended.status_code == 200, suspended.body
    image = call(client, "post", f"/products/{product_id}/images", SAMPLE_BODIES["ImageUploadRequest"],
                 HEADERS["admin"]).json
    created = call(client, "post", "/admin/promotions", {"code": "MATRIX10", "percentOff": 10,
                                                         "oncePerCustomer": False}, HEADERS["admin"])
    assert created.status_code == 201, created.body
    from tests.shop import standard_shipping

    return {"method_id": standard_shipping(), "zone": "BE", "tax_class": "standard", "order_id": order["id"],
            "address_id": address["id"], "notification_id": notification["id"], "product_id": product_id,
            "variant_id": product_id, "user_id": "ann", "return_id": "matrix-return", "shipment_id": "matrix-shipment",
            "image_id": image["imageId"],
            "code": "MATRIX10"}


@pytest.mark.parametrize("path,method,doc", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_route_answers_each_role_as_its_access_demands(client, world, path, method, doc):
    url = re.sub(r"{(\w+)}", lambda m: world[m.group(1)], path)
    if doc.query is not None:
        url += SAMPLE_QUERIES.get(doc.query.__name__, "")
    payload = SAMPLE_BODIES.get(doc.body.__name__) if doc.body is not None else None
    seen = {}
    for role in ROLES:
        headers = dict(HEADERS[role])
        if path in IDEMPOTENT:
            headers["Idempotency-Key"] = f"matrix-{role}-key"
        response = call(client, method.lower(), url, payload, headers)
        seen[role] = response.status_code
        assert response.status_code < 500, (role, response.body)
    if doc.access == "public":
        # Identity plays no part: no caller is refused for who they are.
        assert 403 not in seen.values() and (seen["anonymous"] == 401) == (seen["owner"] == 401), seen
    elif doc.access == "signature":
        refused = 400 if doc.signed_by == "stripeSignature" else 401  # Stripe's webhook: 400, as Stripe expects
        assert seen["anonymous"] == refused and seen["owner"] == refused, seen  # no signature, whoever calls
    else:
        assert seen["anonymous"] == 401, seen
        assert seen["suspended"] == 401, seen  # even erasing itself: staff decide a suspended account's fate
        assert seen["admin"] not in (401, 403), seen
        if doc.access == "admin":
            assert seen["owner"] == 403 and seen["other"] == 403, seen
        else:
            assert seen["owner"] not in (401, 403, 404), seen
            if path in OWNED:
                assert seen["other"] == 404, seen
