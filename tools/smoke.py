"""`make smoke BASE_URL=<url>`: the shopper's and the staff's flows against any deployment of the shop.

    python -m tools.smoke --base-url https://abc123.execute-api.eu-west-1.amazonaws.com/api

It says what passed, what failed and what it skipped (and why), step by step, and exits 1 if anything failed.
What it may do depends on what it is given, through the environment:

- SMOKE_ADMIN_EMAIL, SMOKE_ADMIN_PASSWORD: a staff login. The staff's flow creates a product (stock 2) that
  the shopper buys, and archives it at the end. Without it, the shopper buys a unit of a product in stock.
- SMOKE_EMAIL, SMOKE_PASSWORD: a shopper's login. Without it the shopper signs up with a new address, which
  works where new users are confirmed automatically (the local stack); elsewhere sign-up needs the emailed code.
- SMOKE_WEBHOOK_SECRET: the stage's payment webhook secret (the local stack's default: local-webhook-secret).
  The order is then paid as the provider would pay it, by a signed webhook. Without it the order is cancelled
  at the end, its stock given back: a smoke run against production pays nothing and keeps nothing.

Before the flows it checks what the edge answers: health, an unknown route (404) and a protected route
without a token (401), both in the API's error shape (on a deployment, API Gateway's own gateway responses).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ADDRESS = {"name": "Smoke Test", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}
ORDER_SECONDS = 60  # how long the order may take to appear (the bus, the queue and create_orders)


class Failed(Exception):
    """A step's expectation that did not hold."""


class Skipped(Exception):
    """A step that cannot run with what was given."""


@dataclass
class Smoke:
    base: str
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (PASS|FAIL|SKIP, step, detail)
    out: Callable[[str], None] = print

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None,
             raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base.rstrip("/") + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload) if payload else None
            except ValueError:
                return error.code, payload.decode("utf-8", "replace")

    def expect(self, method: str, path: str, status: int, body: Any = None, headers: dict | None = None,
               raw: bytes | None = None) -> Any:
        answered, payload = self.call(method, path, body, headers, raw)
        if answered != status:
            raise Failed(f"{method} {path} answered {answered}, not {status}: {json.dumps(payload)[:300]}")
        return payload

    def step(self, name: str, run: Callable[[], str | None]) -> bool:
        started = time.monotonic()
        try:
            detail = run() or ""
            outcome = "PASS"
        except Skipped as why:
            outcome, detail = "SKIP", str(why)
        except (Failed, OSError, KeyError, ValueError, TypeError) as why:
            outcome, detail = "FAIL", f"{type(why).__name__}: {why}" if not isinstance(why, Failed) else str(why)
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        self.results.append((outcome, name, detail))
        self.out(f"{outcome} {name} ({took}){': ' + detail if detail else ''}")
        return outcome == "PASS"

    def login(self, email: str, password: str) -> dict[str, str]:
        tokens = self.expect("POST", "/auth/login", 200, {"email": email, "password": password})
        if "idToken" not in tokens:
            raise Skipped(f"{email} must answer a challenge ({tokens.get('challenge')}) to sign in")
        return {"Authorization": tokens["idToken"]}

    # --- the flows -----------------------------------------------------------------------------------------

    def run(self) -> int:
        state: dict[str, Any] = {}
        self.step("health", lambda: self._health())
        self.step("edge: an unknown route answers 404 in the error shape", lambda: self._error_shape(
            "GET", f"/smoke-{uuid.uuid4().hex[:8]}", 404, "NOT_FOUND"))
        self.step("edge: a protected route without a token answers 401 in the error shape",
                  lambda: self._error_shape("GET", "/me", 401, "UNAUTHORIZED"))
        if self.step("staff: log in", lambda: self._staff_login(state)):
            self.step("staff: create a product, read it publicly", lambda: self._create_product(state))
        shopping = [("shopper: sign up or log in", self._shopper_login), ("shopper: a product to buy",
                    self._product_to_buy), ("shopper: basket", self._basket), ("shopper: checkout", self._checkout),
                    ("shopper: the order appears", self._order_appears)]
        # each step needs the one before; an order the webhook did not pay is cancelled, its stock given back
        if all(self.step(name, lambda run=run: run(state)) for name, run in shopping) and \
                not self.step("payment: paid through the signed webhook", lambda: self._pay(state)):
            self.step("shopper: cancel the unpaid order (its stock comes back)", lambda: self._cancel(state))
        if "product" in state and state.get("staff"):
            self.step("staff: archive the product", lambda: self._archive(state))
        counts = {outcome: sum(1 for o, _, _ in self.results if o == outcome) for outcome in ("PASS", "FAIL", "SKIP")}
        self.out(f"smoke against {self.base}: {counts['PASS']} passed, {counts['FAIL']} failed, "
                 f"{counts['SKIP']} skipped")
        return 1 if counts["FAIL"] else 0

    def _health(self) -> str:
        return json.dumps(self.expect("GET", "/health", 200))

    def _error_shape(self, method: str, path: str, status: int, code: str) -> str:
        payload = self.expect(method, path, status)
        if not isinstance(payload, dict) or payload.get("error", {}).get("code") != code or "requestId" not in payload:
            raise Failed(f"{method} {path}: {json.dumps(payload)[:300]} is not the API's error shape ({code})")
        return code

    def _staff_login(self, state: dict) -> str:
        email, password = self.environment.get("SMOKE_ADMIN_EMAIL"), self.environment.get("SMOKE_ADMIN_PASSWORD")
        if not email or not password:
            raise Skipped("no staff login (SMOKE_ADMIN_EMAIL, SMOKE_ADMIN_PASSWORD)")
        state["staff"] = self.login(email, password)
        return email

    def _create_product(self, state: dict) -> str:
        product = self.expect("POST", "/products", 201, {
            "name": f"Smoke test {uuid.uuid4().hex[:8]}", "category": "smoke-test", "price": 1234,
            "currency": "EUR", "stock": 2}, state["staff"])
        read = self.expect("GET", f"/products/{product['id']}", 200)
        variant = read["variants"][0] if len(read.get("variants", [])) == 1 else {}
        if (read["id"], variant.get("stock"), variant.get("prices")) != (product["id"], 2,
                                                                           [{"currency": "EUR", "amount": 1234}]):
            raise Failed(f"the product reads back as {read}")
        state["product"] = product
        return product["id"]

    def _shopper_login(self, state: dict) -> str:
        email, password = self.environment.get("SMOKE_EMAIL"), self.environment.get("SMOKE_PASSWORD")
        if not email or not password:
            email, password = f"smoke-{uuid.uuid4().hex[:12]}@example.com", f"Smoke{uuid.uuid4().hex[:8]}1"
            self.expect("POST", "/auth/register", 201, {"email": email, "password": password, "name": "Smoke Test"})
            status, _ = self.call("POST", "/auth/login", {"email": email, "password": password})
            if status != 200:
                raise Skipped(f"signed up {email}, but this stage confirms sign-ups by email ({status}): "
                              "give SMOKE_EMAIL and SMOKE_PASSWORD of a confirmed shopper")
        state["shopper"] = self.login(email, password)
        return email

    def _product_to_buy(self, state: dict) -> str:
        if "product" not in state:
            listed = self.expect("GET", "/products?limit=50", 200)["items"]
            in_stock = [p for p in listed if p.get("inStock") and p.get("status", "ACTIVE") == "ACTIVE"]
            if not in_stock:
                raise Skipped("no product in stock to buy, and no staff login to create one")
            state["product"] = in_stock[0]
        return state["product"]["id"]

    def _basket(self, state: dict) -> str:
        self.call("DELETE", "/basket", headers=state["shopper"])  # a known shopper's basket may hold an older run's
        currency = self.expect("GET", "/basket", 200, headers=state["shopper"])["currency"]
        product = self.expect("GET", f"/products/{state['product']['id']}", 200)
        sold = [v for v in product["variants"] if v["status"] == "ACTIVE" and (v.get("stock") or 0) > 0
                and any(price["currency"] == currency for price in v["prices"])]
        if not sold:
            raise Failed(f"{product['id']} has no variant in stock priced in {currency}")
        item = sold[0]["id"]
        self.expect("PUT", f"/basket/items/{item}", 200, {"quantity": 1}, state["shopper"])
        basket = self.expect("GET", "/basket", 200, headers=state["shopper"])
        lines = [line for line in basket["items"] if line["variantId"] == item]
        if not lines or lines[0]["quantity"] != 1:
            raise Failed(f"the basket holds {basket['items']}")
        return f"{basket.get('total', basket['subtotal'])} {basket['currency']}"

    def _checkout(self, state: dict) -> str:
        shopper = state["shopper"]
        self.expect("PUT", "/basket/shipping-address", 200, ADDRESS, shopper)
        offered = self.expect("GET", "/basket/shipping-methods", 200, headers=shopper)["items"]
        if not offered:
            raise Failed(f"no shipping method delivers to {ADDRESS['country']}: add one (POST /admin/shipping-methods)")
        self.expect("PUT", "/basket/shipping-method", 200, {"id": offered[0]["id"]}, shopper)
        accepted = self.expect("POST", "/basket/checkout", 202, {}, {**shopper, "Idempotency-Key": uuid.uuid4().hex})
        state["order_id"] = accepted["orderId"]
        return accepted["orderId"]

    def _order_appears(self, state: dict) -> str:
        deadline = time.monotonic() + ORDER_SECONDS
        while True:
            status, order = self.call("GET", f"/orders/{state['order_id']}", headers=state["shopper"])
            if status == 200:
                state["order"] = order
                return order["status"]
            if time.monotonic() > deadline:
                raise Failed(f"no order {state['order_id']} after {ORDER_SECONDS} s (last answer {status})")
            time.sleep(0.5)

    def _pay(self, state: dict) -> str:
        from chalicelib.payments.signature import sign

        secret = self.environment.get("SMOKE_WEBHOOK_SECRET")
        if not secret:
            raise Skipped("no webhook secret (SMOKE_WEBHOOK_SECRET): the order is left to the stage's provider")
        order = state["order"]
        raw = json.dumps({"id": f"evt_smoke_{uuid.uuid4().hex[:16]}", "type": "payment.succeeded",
                          "orderId": order["id"], "amount": order.get("total", order["subtotal"]),
                          "currency": order["currency"]}).encode()
        answer = self.expect("POST", "/webhooks/payments", 200, raw=raw, headers={"X-Signature": sign(secret, raw)})
        if (answer.get("outcome"), answer.get("orderStatus")) != ("APPLIED", "PAID"):
            raise Failed(f"the payment was not applied: {answer}")
        if self.expect("GET", f"/orders/{order['id']}", 200, headers=state["shopper"])["status"] != "PAID":
            raise Failed("the order does not read PAID")
        return "PAID"

    def _cancel(self, state: dict) -> str:
        return self.expect("POST", f"/orders/{state['order']['id']}/cancel", 200, headers=state["shopper"])["status"]

    def _archive(self, state: dict) -> str:
        status, _ = self.call("DELETE", f"/products/{state['product']['id']}", headers=state["staff"])
        if status not in (200, 204):
            raise Failed(f"DELETE /products/{state['product']['id']} answered {status}")
        return "ARCHIVED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the API's URL, e.g. http://localhost:8000")
    args = parser.parse_args(argv)
    return Smoke(args.base_url).run()


if __name__ == "__main__":
    sys.exit(main())
