"""The shop as a newcomer meets it: `make run`, then real HTTP against it.

One stack is started for the module (the README's way), driven through the whole flow,
fuzzed from its own OpenAPI document, and stopped with SIGTERM.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "e2e-webhook-secret"
ADMIN = ("e2e-admin@example.com", "E2eAdmin123")
CUSTOMER = ("e2e-customer@example.com", "E2eCustomer123")


KEPT: dict = {}  # what the flow made, for the restart at the end to find


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Api:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                payload = response.read()
                return response.status, (json.loads(payload) if payload else None)
        except urllib.error.HTTPError as error:
            payload = error.read()
            return error.code, (json.loads(payload) if payload else None)

    def stock(self, item_id: str) -> int:
        """A variant's stock (a product of one variant: its id is the product's)."""
        variants = self.call("GET", f"/products/{item_id.partition('.')[0]}")[1]["variants"]
        return next(v["stock"] for v in variants if v["id"] == item_id)

    def staff(self) -> dict[str, str]:
        """The admin's token, from the first sign-in: the admin fuzzer may try the admin's email with wrong passwords,
        which the per-account backoff answers with 429 for a while (as it should)."""
        if not getattr(self, "_staff", None):
            self._staff = self.login(*ADMIN)
        return self._staff

    def login(self, email: str, password: str) -> dict[str, str]:
        status, tokens = self.call("POST", "/auth/login", {"email": email, "password": password})
        assert status == 200, tokens
        return {"Authorization": f"Bearer {tokens['idToken']}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("stack") / "make-run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # The fuzzer calls /auth/* faster than the stage's throttling admits (tests/local checks the throttling).
    # The flows below pay through the generic signed webhook, refunds confirmed by its local stand-in.
    env.update(PORT=str(port), LOCAL_STACK_DIR=str(log.parent / "local-stack"), PAYMENT_PROVIDER="generic",
               PAYMENT_WEBHOOK_SECRET=SECRET, LOCAL_SCHEDULE_SECONDS="2", PAYMENT_WINDOW_MINUTES="1",
               LOCAL_THROTTLING="off",
               LOCAL_ADMIN_EMAIL=ADMIN[0], LOCAL_ADMIN_PASSWORD=ADMIN[1],
               LOCAL_CUSTOMER_EMAIL=CUSTOMER[0], LOCAL_CUSTOMER_PASSWORD=CUSTOMER[1])
    with open(log, "w") as out:
        process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    api = Api(f"http://127.0.0.1:{port}")
    deadline = time.time() + 120
    while time.time() < deadline:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(OSError):
            if api.call("GET", "/health")[0] == 200:
                break
        time.sleep(0.5)
    else:
        pytest.fail("make run did not answer /health:\n" + log.read_text())
    api.unpaid = _unpaid_order(api)  # placed first: its payment window runs out while the other tests run
    yield api, process, log
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def test_banner_prints_the_url_and_the_overridden_logins(stack):
    api, _, log = stack
    text = log.read_text()
    assert api.base.rsplit(":", 1)[1] in text and ADMIN[0] in text and CUSTOMER[0] in text


def test_make_smoke_passes_the_shoppers_and_the_staffs_flows_against_make_run(stack):
    api, _, _ = stack
    env = {**os.environ, "SMOKE_ADMIN_EMAIL": ADMIN[0], "SMOKE_ADMIN_PASSWORD": ADMIN[1],
           "SMOKE_WEBHOOK_SECRET": SECRET}
    for name in ("SMOKE_EMAIL", "SMOKE_PASSWORD"):  # the shopper signs up (the local stack confirms at once)
        env.pop(name, None)
    # -o: the virtualenv counts as installed, as the `stack` fixture's `make run` left it
    result = subprocess.run(["make", "-s", "-o", ".venv/.installed", "smoke", f"BASE_URL={api.base}"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"smoke against {api.base}: 12 passed, 0 failed, 0 skipped", result.stdout
    assert any(line.startswith("PASS payment: paid through the signed webhook") for line in lines)
    assert any(line.startswith("PASS staff: archive the product") for line in lines)


def test_make_smoke_says_what_it_skipped_and_fails_on_what_failed(stack):
    from tools.smoke import Smoke

    api, _, _ = stack
    said: list[str] = []
    assert Smoke(api.base, environment={}, out=said.append).run() == 0  # no logins, no secret: skips, no failure
    skipped = [line for line in said if line.startswith("SKIP")]
    assert [line.split(" (")[0] for line in skipped] == ["SKIP staff: log in",
                                                         "SKIP payment: paid through the signed webhook"]
    assert any(line.startswith("PASS shopper: cancel the unpaid order") for line in said)
    wrong = Smoke(api.base, environment={"SMOKE_ADMIN_EMAIL": ADMIN[0], "SMOKE_ADMIN_PASSWORD": "wrong"},
                  out=said.append)
    assert wrong.run() == 1
    assert said[-1].endswith(", 1 failed, 1 skipped"), said[-1]
    assert any(line.startswith("FAIL staff: log in") and "answered 401" in line for line in said)


def test_forged_and_garbage_tokens_answer_401_over_http(stack):
    api, _, _ = stack
    header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
    claims = json.dumps({"sub": "x", "cognito:groups": ["admin"]}).encode()
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    for token in (f"{b64(header)}.{b64(claims)}.", "garbage", "Bearer a.b.c"):
        status, body = api.call("GET", "/admin/users", headers={"Authorization": token})
        assert status == 401, (token, body)
    assert api.call("GET", "/me")[0] == 401


def test_an_admin_token_signed_with_the_key_inside_the_emulators_package_answers_401(stack):
    from tests.local import tokens

    api, _, _ = stack
    genuine = api.login(*CUSTOMER)["Authorization"].removeprefix("Bearer ")
    assert api.call("GET", "/me", headers={"Authorization": genuine})[0] == 200
    admin = {**tokens.claims_of(genuine), "cognito:groups": ["admin"]}
    for kid in ("dummy", tokens.header_of(genuine)["kid"]):
        forged = tokens.sign(admin, tokens.packaged_private_key(), kid)
        status, body = api.call("GET", "/admin/users", headers={"Authorization": forged})
        assert status == 401, (kid, body)


def test_register_basket_checkout_order_payment_shipped(stack):
    api, _, _ = stack
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    status, registered = api.call("POST", "/auth/register", {"email": email, "password": "Shopper123", "name": "S"})
    assert status == 201, registered
    shopper = api.login(email, "Shopper123")
    staff = api.staff()

    status, product = api.call("POST", "/products", {"name": "E2E Kettle", "category": "kitchen", "price": 4200,
                                                     "currency": "EUR", "stock": 3}, staff)
    assert status == 201, product
    assert api.call("PUT", f"/basket/items/{product['id']}", {"quantity": 2}, shopper)[0] == 200
    key = {"Idempotency-Key": uuid.uuid4().hex}
    address = {"name": "S", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}
    _ship(api, shopper, address)
    status, accepted = api.call("POST", "/basket/checkout", {"shippingAddress": address}, {**shopper, **key})
    assert status == 202, accepted
    assert api.call("POST", "/basket/checkout", {"shippingAddress": address}, {**shopper, **key}) == (202, accepted)

    order = _eventually(lambda: api.call("GET", f"/orders/{accepted['orderId']}", headers=shopper))
    assert order["status"] == "PENDING" and order["subtotal"] == 8400
    assert api.stock(product["id"]) == 1
    assert api.call("GET", f"/orders/{order['id']}", headers=api.login(*CUSTOMER))[0] == 404

    status, ack = _pay(api, order, f"evt-{uuid.uuid4().hex}")
    assert status == 200 and ack["orderStatus"] == "PAID", ack
    raw = json.dumps({"id": f"evt-{uuid.uuid4().hex}", "type": "payment.succeeded", "orderId": order["id"],
                      "amount": 8400, "currency": "EUR"}).encode()
    stamp = int(time.time())
    wrong = hmac.new(b"local-webhook-secret", f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert api.call("POST", "/webhooks/payments", headers={"X-Signature": f"t={stamp},v1={wrong}"}, raw=raw)[0] == 401

    status, shipped = api.call("POST", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"}, staff)
    assert status == 200 and shipped["status"] == "SHIPPED"
    KEPT.update(email=email, shopper=shopper, order=shipped,
                product=api.call("GET", f"/products/{product['id']}")[1])
    kinds = _eventually(lambda: _notification_kinds(api, shopper, expect=3))
    assert kinds == ["ORDER_SHIPPED", "ORDER_PAID", "ORDER_CREATED"]
    trail = _eventually(lambda: _audit(api, staff, order["id"], expect=5))
    assert sorted(r["action"] for r in trail) == ["OrderCreated", "OrderStatusChanged", "OrderStatusChanged",
                                                  "PaymentRecorded", "ShipmentCreated"]
    assert trail[-1]["action"] == "OrderCreated"
    assert all(r["correlationId"] for r in trail)


def test_two_parcels_with_tracking_then_their_delivery_walk_an_order_to_delivered(stack):
    api, _, _ = stack
    staff = api.staff()
    shopper, product, accepted = _checked_out(api, "parcels", "E2E Mugs", quantity=3, price=900)
    order = _eventually(lambda: api.call("GET", f"/orders/{accepted['orderId']}", headers=shopper))
    assert _pay(api, order, f"evt-{uuid.uuid4().hex}")[1]["orderStatus"] == "PAID"
    shipments = f"/admin/orders/{order['id']}/shipments"
    status, first = api.call("POST", shipments, {
        "lines": [{"variantId": product["id"], "quantity": 1}], "carrier": "DHL", "trackingNumber": "JD014600003SE",
        "trackingUrl": "https://www.dhl.com/track?id=JD014600003SE"}, {**staff, "Idempotency-Key": "e2e-parcel-1"})
    assert status == 201 and first["status"] == "SHIPPED", first
    assert api.call("GET", f"/orders/{order['id']}", headers=shopper)[1]["status"] == "PARTIALLY_SHIPPED"
    assert api.call("POST", f"/orders/{order['id']}/cancel", headers=shopper)[0] == 409
    status, rest = api.call("POST", shipments, {"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"},
                            {**staff, "Idempotency-Key": "e2e-parcel-2"})
    assert status == 201 and rest["lines"][0]["quantity"] == 2, rest
    seen = api.call("GET", f"/orders/{order['id']}", headers=shopper)[1]
    assert seen["status"] == "SHIPPED" and [s["id"] for s in seen["shipments"]] == [first["id"], rest["id"]]
    for shipment in (first, rest):
        status, arrived = api.call("POST", f"{shipments}/{shipment['id']}/delivered", headers=staff)
        assert status == 200 and arrived["status"] == "DELIVERED", arrived
    done = api.call("GET", f"/orders/{order['id']}", headers=shopper)[1]
    assert done["status"] == "DELIVERED" and done["deliveredAt"], done
    assert api.call("POST", f"{shipments}/{first['id']}/delivered", headers=staff)[0] == 409
    _eventually(lambda: _notification_kinds(api, shopper, expect=2, kind="ORDER_SHIPPED"))
    told = [n["body"] for n in api.call("GET", "/me/notifications", headers=shopper)[1]["items"]
            if n["kind"] == "ORDER_SHIPPED"]
    assert any("https://www.dhl.com/track?id=JD014600003SE" in body for body in told), told
    trail = _eventually(lambda: _audit(api, staff, order["id"], expect=10))
    actions = sorted(r["action"] for r in trail)
    assert actions.count("ShipmentCreated") == 2 and actions.count("ShipmentDelivered") == 2, actions


def test_a_tshirt_in_sizes_and_colours_is_browsed_and_bought_in_one_size_in_usd(stack):
    """Size × Colour, four variants priced in EUR and USD: created by staff, listed with its USD price range,
    one size bought in USD by a shopper, and only that variant's stock drops."""
    api, _, _ = stack
    staff = api.staff()
    code = uuid.uuid4().hex[:6].upper()
    variants = [{"sku": f"E2E-{code}-{size}-{colour}", "options": {"Size": size, "Colour": colour}, "stock": 4,
                 "prices": [{"currency": "EUR", "amount": 2500}, {"currency": "USD", "amount": 2700 + 100 * i}]}
                for i, (size, colour) in enumerate([("S", "Red"), ("S", "Blue"), ("M", "Red"), ("M", "Blue")])]
    status, tee = api.call("POST", "/products", {
        "name": f"E2E Tee {code}", "category": "e2e-apparel", "variants": variants,
        "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red", "Blue"]}]}, staff)
    assert status == 201, tee
    status, listing = api.call("GET", "/products?category=e2e-apparel&currency=USD")
    (listed,) = [p for p in listing["items"] if p["id"] == tee["id"]]
    assert listed["priceRange"] == {"currency": "USD", "low": 2700, "high": 3000} and listed["inStock"] is True
    email = f"tee-{uuid.uuid4().hex[:8]}@example.com"
    assert api.call("POST", "/auth/register", {"email": email, "password": "Shopper123", "name": "T"})[0] == 201
    shopper = api.login(email, "Shopper123")
    assert api.call("PUT", "/basket/currency", {"currency": "USD"}, shopper)[0] == 200
    medium_red = tee["variants"][2]
    status, basket = api.call("PUT", f"/basket/items/{medium_red['id']}", {"quantity": 2}, shopper)
    assert status == 200 and (basket["currency"], basket["subtotal"]) == ("USD", 5800), basket
    address = {"name": "T", "line1": "1 Sunset Blvd", "city": "Los Angeles", "postalCode": "90001", "country": "US",
               "region": "US-CA"}
    _ship(api, shopper, address)
    status, accepted = api.call("POST", "/basket/checkout", {}, {**shopper, "Idempotency-Key": uuid.uuid4().hex})
    assert status == 202, accepted
    order = _eventually(lambda: api.call("GET", f"/orders/{accepted['orderId']}", headers=shopper))
    assert (order["currency"], order["items"][0]["variantId"], order["items"][0]["sku"]) == (
        "USD", medium_red["id"], medium_red["sku"])
    assert [api.stock(v["id"]) for v in tee["variants"]] == [4, 4, 2, 4]


def test_german_and_californian_baskets_show_their_tax_and_shipping_and_the_payment_of_the_total_pays(stack):
    """DE: prices include 19 %; US-CA: 7.25 % is added, to shipping too. The basket shows the totals of the formulas,
    the order keeps them, and a payment of its total pays it."""
    api, _, _ = stack
    staff, code = api.staff(), uuid.uuid4().hex[:6]
    for zone, percent in (("DE", 19), ("US-CA", 7.25)):
        assert api.call("PUT", f"/admin/tax-rates/{zone}/standard", {"ratePercent": percent}, staff)[0] == 200
    for zones, currency, amount in ((["DE"], "EUR", 495), (["US"], "USD", 799)):
        status, made = api.call("POST", "/admin/shipping-methods", {
            "name": f"E2E {currency} {code}", "zones": zones, "rates": [{"currency": currency, "amount": amount}]},
            staff)
        assert status == 201, made
    status, product = api.call("POST", "/products", {
        "name": f"E2E Lamp {code}", "category": "e2e", "variants": [
            {"sku": f"LAMP-{code}", "stock": 10, "prices": [{"currency": "EUR", "amount": 1999},
                                                           {"currency": "USD", "amount": 1999}]}]}, staff)
    assert status == 201, product
    lamp = product["variants"][0]["id"]
    places = {
        "EUR": ({"name": "D", "line1": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117",
                 "country": "DE"}, 2, 3998, 495, 638 + 79, 3998 + 495),  # 3998 x 19/119 = 638.3, 495 x 19/119 = 79.0
        "USD": ({"name": "C", "line1": "1 Sunset Blvd", "city": "Los Angeles", "postalCode": "90001",
                 "country": "US", "region": "US-CA"}, 3, 5997, 799, 435 + 58, 5997 + 799 + 435 + 58),  # 434.8, 57.9
    }
    for currency, (address, quantity, subtotal, shipping, tax, total) in places.items():
        email = f"tax-{uuid.uuid4().hex[:8]}@example.com"
        assert api.call("POST", "/auth/register", {"email": email, "password": "Shopper123", "name": "T"})[0] == 201
        shopper = api.login(email, "Shopper123")
        assert api.call("PUT", "/basket/currency", {"currency": currency}, shopper)[0] == 200
        assert api.call("PUT", f"/basket/items/{lamp}", {"quantity": quantity}, shopper)[0] == 200
        basket = _ship(api, shopper, address, f"E2E {currency} {code}")
        shown = {name: basket[name] for name in ("subtotal", "shipping", "tax", "total", "pricesIncludeTax")}
        assert shown == {"subtotal": subtotal, "shipping": shipping, "tax": tax, "total": total,
                         "pricesIncludeTax": currency == "EUR"}, basket
        status, accepted = api.call("POST", "/basket/checkout", {}, {**shopper, "Idempotency-Key": uuid.uuid4().hex})
        assert status == 202, accepted
        order = _eventually(lambda: api.call("GET", f"/orders/{accepted['orderId']}", headers=shopper))
        assert {name: order[name] for name in shown} == shown and order["taxLines"] == basket["taxLines"]
        status, ack = _pay(api, order, f"evt-{uuid.uuid4().hex}")
        assert status == 200 and ack["orderStatus"] == "PAID", ack


def test_shoppers_racing_for_the_last_units_get_exactly_that_many_orders_each_paid_once(stack):
    """The flash sale over HTTP: 40 shoppers check out at once for 10 units; each order's payment event is sent
    three times at once; every audit record and notification the consumers wrote is read back; then the other
    last-of-something races (one checkout sent eight times, a promotion's last redemption, refunds and
    returns asked for at once); no 5xx."""
    from tools.load import Shop, check

    api, _, _ = stack
    shop = Shop(api.base, SECRET)
    report = check(shop, shoppers=40, units=10, say=lambda _line: None, staff=api.staff())
    assert report["flash_sale"]["orders_made"] == 10 and report["flash_sale"]["refused"] == {"409 OUT_OF_STOCK": 30}
    assert report["payments"]["sent"] == 30
    assert report["races"]["promotion_cap"] == {"cap": 10, "buyers": 20, "redeemed": 10}
    assert not [status for status in report["statuses"] if status.startswith("5")]


def test_make_load_sells_a_hot_skus_stock_exactly_once_and_writes_its_numbers(stack, tmp_path):
    """`make load BASE_URL=…`: 12 shoppers check out one SKU of 5 units at the same moment; exactly 5 are accepted
    and 7 refused with 409, no 5xx; it read back the stock (0) and one order per accepted checkout before exiting 0;
    dist/load.json (here LOAD_JSON) holds exactly the numbers it printed."""
    api, _, _ = stack
    out = tmp_path / "load.json"
    env = {**os.environ, "LOAD_ADMIN_EMAIL": ADMIN[0], "LOAD_ADMIN_PASSWORD": ADMIN[1], "LOAD_JSON": str(out)}
    for name in ("LOAD_SHOPPER_EMAIL", "LOAD_SHOPPER_PASSWORD"):  # new shoppers (the local stack confirms at once)
        env.pop(name, None)
    result = subprocess.run(["make", "-s", "-o", ".venv/.installed", "load", f"BASE_URL={api.base}", "SHOPPERS=12",
                             "STOCK=5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    numbers = json.loads(out.read_text())
    assert list(numbers) == ["shoppers", "stock", "accepted", "refused", "errors_5xx", "errors_other", "p50_ms",
                             "p95_ms", "p99_ms", "goodput_per_s"]
    assert {k: numbers[k] for k in ("shoppers", "stock", "accepted", "refused", "errors_5xx", "errors_other")} == \
        {"shoppers": 12, "stock": 5, "accepted": 5, "refused": 7, "errors_5xx": 0, "errors_other": 0}, numbers
    assert 0 < numbers["p50_ms"] <= numbers["p95_ms"] <= numbers["p99_ms"] and numbers["goodput_per_s"] > 0
    assert "12 shoppers, stock 5: 5 accepted, 7 refused with 409 (OUT_OF_STOCK: 7), 0 5xx, 0 other errors" in \
        result.stdout and "after it: stock 0 of 5" in result.stdout, result.stdout


def test_a_function_killed_comes_back_and_the_stack_keeps_serving(stack):
    """kill -9 of the API and of the order consumer: each is started again, the API answers, and a checkout
    made after becomes an order."""
    from tools.load import Shop, kill_every_function

    api, _, log = stack
    shop = Shop(api.base, SECRET)
    back = kill_every_function(log.parent / "local-stack", shop, only={"api_handler", "create_orders"})
    assert set(back) == {"api_handler", "create_orders"} and max(back.values()) < 30, back
    said = ("[run] the api_handler process exited (killed by SIGKILL)", "[run] the create_orders process is back")
    _eventually(lambda: (200, True) if all(line in log.read_text() for line in said) else (404, said))
    order = _unpaid_order(api)
    assert _eventually(lambda: api.call("GET", f"/orders/{order['orderId']}", headers=order["headers"]))
    assert "stopping everything" not in log.read_text()


def _ship(api, shopper, address, method_name=None):
    """The shopper's basket ships to `address` by the method named (the first offered if None): its basket."""
    status, basket = api.call("PUT", "/basket/shipping-address", address, shopper)
    assert status == 200, basket
    status, offered = api.call("GET", "/basket/shipping-methods", headers=shopper)
    assert status == 200 and offered["items"], offered
    chosen = next(option for option in offered["items"] if method_name in (None, option["name"]))
    status, basket = api.call("PUT", "/basket/shipping-method", {"id": chosen["id"]}, shopper)
    assert status == 200, basket
    return basket


def _pay(api, order, event_id, kind="payment.succeeded"):
    raw = json.dumps({"id": event_id, "type": kind, "orderId": order["id"], "amount": order["total"],
                      "currency": order["currency"]}).encode()
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return api.call("POST", "/webhooks/payments", headers={"X-Signature": f"t={stamp},v1={signature}"}, raw=raw)


def _checked_out(api, who: str, product_name: str, *, quantity: int, price: int) -> tuple[dict, dict, dict]:
    """A new shopper checks out `quantity` units of a product of its own (other tests, the admin fuzzer among
    them, change the demo products' stock). Returns (the shopper's headers, the product, the checkout's answer)."""
    email = f"{who}-{uuid.uuid4().hex[:8]}@example.com"
    assert api.call("POST", "/auth/register", {"email": email, "password": "Shopper123", "name": "L"})[0] == 201
    shopper = api.login(email, "Shopper123")
    status, product = api.call("POST", "/products", {"name": product_name, "category": "e2e", "price": price,
                                                     "currency": "EUR", "stock": 5}, api.staff())
    assert status == 201, product
    assert api.call("PUT", f"/basket/items/{product['id']}", {"quantity": quantity}, shopper)[0] == 200
    address = {"name": "L", "line1": "2 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}
    _ship(api, shopper, address)
    status, accepted = api.call("POST", "/basket/checkout", {"shippingAddress": address},
                                {**shopper, "Idempotency-Key": uuid.uuid4().hex})
    assert status == 202, accepted
    return shopper, product, accepted


def _unpaid_order(api) -> dict:
    staff = api.staff()
    shopper, product, accepted = _checked_out(api, "late", f"Unpaid {uuid.uuid4().hex[:6]}", quantity=1, price=1500)
    # Out of every listing, so the admin fuzzer (which edits what it finds listed) never learns its id.
    assert api.call("DELETE", f"/products/{product['id']}", headers=staff)[0] == 200
    return {"orderId": accepted["orderId"], "productId": product["id"], "headers": shopper,
            "stock": api.stock(product["id"])}


def _notification_kinds(api, headers, expect, kind=""):
    """The newest first, those whose kind starts with `kind`, once there are `expect` of them."""
    status, body = api.call("GET", "/me/notifications", headers=headers)
    kinds = [n["kind"] for n in body["items"] if n["kind"].startswith(kind)] if status == 200 else []
    return (200, kinds) if len(kinds) >= expect else (404, None)


def _audit(api, headers, order_id, expect):
    status, body = api.call("GET", f"/admin/audit?entityType=ORDER&entityId={order_id}", headers=headers)
    items = body["items"] if status == 200 else []
    return (200, items) if len(items) >= expect else (404, None)


def _eventually(probe, seconds: float = 20):
    deadline = time.time() + seconds
    while True:
        status, body = probe()
        if status == 200:
            return body
        if time.time() > deadline:
            pytest.fail(f"still {status}: {body}")
        time.sleep(0.3)


# Operations that would destroy the fuzzer's own identity or demo accounts mid-run.
FUZZ_EXCLUDED = ["DELETE /me", "PATCH /admin/users/{user_id}", "POST /auth/reset-password",
                 "POST /auth/forgot-password"]


@pytest.mark.parametrize("role", ["customer", "admin"])
def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_schema_violation(stack, role, tmp_path):
    """15 seconds per role here (the suite's budget); `make fuzz` runs each for 15 minutes."""
    api, _, _ = stack
    token = api.login(*(ADMIN if role == "admin" else CUSTOMER))["Authorization"]
    command = [str(pathlib.Path(sys.executable).parent / "schemathesis"), "run", str(ROOT / "openapi.json"),
               "--url", api.base, "-H", f"Authorization: {token}",
               "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
               "--phases", "examples,coverage,fuzzing", "-n", os.environ.get("FUZZ_EXAMPLES", "8"),
               "--max-time", os.environ.get("FUZZ_SECONDS", "15"), "--seed", "20261122", "--no-shrink",
               "--warnings", "off", "--report", "junit", "--report-dir", str(tmp_path)]
    for operation in FUZZ_EXCLUDED:
        command += ["--exclude-operation-id", _operation_id(operation)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:]


def _operation_id(operation: str) -> str:
    spec = json.loads((ROOT / "openapi.json").read_text())
    method, path = operation.split(" ")
    return spec["paths"][path][method.lower()]["operationId"]


def test_an_order_left_unpaid_is_cancelled_by_the_sweeper_and_its_stock_returned(stack):
    api, _, _ = stack
    unpaid = api.unpaid

    def cancelled():
        status, order = api.call("GET", f"/orders/{unpaid['orderId']}", headers=unpaid["headers"])
        return (200, order) if status == 200 and order["status"] == "CANCELLED" else (404, order)

    order = _eventually(cancelled, seconds=150)
    assert api.stock(unpaid["productId"]) == unpaid["stock"] + 1
    # The admin fuzzer registers emails it read from the shop's answers: their holders are told of it too.
    kinds = _eventually(lambda: _notification_kinds(api, unpaid["headers"], expect=2, kind="ORDER_"))
    assert kinds[0] == "ORDER_CANCELLED", kinds
    # The money arrives after all: acknowledged, recorded, flagged for a refund, never a 409.
    status, ack = _pay(api, order, f"evt-late-{uuid.uuid4().hex}")
    assert status == 200 and (ack["outcome"], ack["orderStatus"], ack["refundDue"]) == (
        "REFUND_DUE", "CANCELLED", True), ack
    status, after = api.call("GET", f"/orders/{order['id']}", headers=unpaid["headers"])
    assert after["refundDue"] is True and [p["outcome"] for p in after["payments"]] == ["REFUND_DUE"]


def test_erasure_over_http_is_finished_by_the_erase_users_process(stack):
    api, _, _ = stack
    order = _unpaid_order(api)
    _eventually(lambda: api.call("GET", f"/orders/{order['orderId']}", headers=order["headers"]))
    status, answer = api.call("DELETE", "/me", headers=order["headers"])
    assert status == 202 and answer["status"] == "ERASING", answer
    assert api.call("GET", "/me", headers=order["headers"])[0] == 401
    staff = api.staff()

    def anonymised():
        status, kept = api.call("GET", f"/orders/{order['orderId']}", headers=staff)
        return (200, kept) if status == 200 and kept["userId"] == "erased" else (404, kept)

    kept = _eventually(anonymised)
    assert kept["shippingAddress"] is None and kept["subtotal"] > 0


def test_every_function_ran_under_its_own_policy_and_none_was_refused(stack):
    _, _, log = stack
    text = log.read_text()
    assert "IAM enforced" in text
    assert "[iam] AccessDenied" not in text, [line for line in text.splitlines() if "AccessDenied" in line]


def test_sigterm_stops_everything(stack):
    api, process, log = stack
    # As the stack is when it stops: the admin fuzzer edits the stock of what it finds listed, the flow's product too.
    KEPT["listed"] = api.call("GET", "/products?limit=100")[1]["items"]
    KEPT["product"] = api.call("GET", f"/products/{KEPT['product']['id']}")[1]
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(20) is not None
    # make returns as soon as it has passed the signal on; the runner then stops every function's process
    # and the emulator, and says so last.
    deadline = time.monotonic() + 30
    while "Stopped." not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Stopped." in log.read_text(), log.read_text()[-2000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(api.base + "/health", timeout=2)


def test_a_restart_keeps_what_was_there_and_seeds_nothing(stack, tmp_path):
    """`make run` again on the stopped stack's folder: its products, orders and users are there, a token issued
    before still admits its holder, and no demo data is added to a shop that has some."""
    api, process, log = stack
    assert process.poll() is not None  # stopped by the test before
    kept = KEPT
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PORT=api.base.rsplit(":", 1)[1], LOCAL_STACK_DIR=str(log.parent / "local-stack"),
               PAYMENT_PROVIDER="generic", PAYMENT_WEBHOOK_SECRET=SECRET, LOCAL_THROTTLING="off")
    again = tmp_path / "make-run-again.log"
    with open(again, "w") as out:
        restarted = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything" not in again.read_text():  # the banner: every function serves
            assert restarted.poll() is None and time.monotonic() < deadline, again.read_text()[-3000:]
            time.sleep(0.5)
        assert "kept from the last run" in again.read_text()
        assert api.call("GET", f"/products/{kept['product']['id']}")[1] == kept["product"]
        assert api.call("GET", "/products?limit=100")[1]["items"] == kept["listed"]
        status, order = api.call("GET", f"/orders/{kept['order']['id']}", headers=kept["shopper"])
        assert status == 200 and order["status"] == kept["order"]["status"]
        assert api.call("GET", "/me", headers=kept["shopper"])[0] == 200  # the token from before the restart
        assert api.login(kept["email"], "Shopper123")  # and the password
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(60)
