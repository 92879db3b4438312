"""`make load`: one hot SKU and many shoppers at the same moment, over HTTP, against any stage of the shop.

    make load                                          # the local stack on PORT (LOCAL_THROTTLING=off make run)
    make load BASE_URL=https://abc.execute-api.eu-west-1.amazonaws.com/api SHOPPERS=500 STOCK=100
    python -m tools.load --base-url http://127.0.0.1:8000 --shoppers 200 --stock 40 --out dist/load.json

Staff create a product of STOCK units (LOAD_ADMIN_EMAIL and LOAD_ADMIN_PASSWORD; by default the local stack's
admin). Each of SHOPPERS shoppers registers or signs in (LOAD_SHOPPER_EMAIL, a pattern whose `{i}` is the
shopper's number, and LOAD_SHOPPER_PASSWORD: accounts that exist, where sign-ups wait for an emailed code; by
default new addresses), puts one unit in the basket, gives an address and a shipping method it is offered, and
all check out at the same moment. Only what the API says may be asked again is: a 429 or 503 with Retry-After,
five times at most. It prints and writes to dist/load.json the checkouts accepted, refused with 409, answered
5xx and otherwise, the checkout's p50/p95/p99 latency and the goodput (accepted checkouts per second of the
race); then it reads back, over the API, the stock (exactly STOCK - accepted) and every buyer's orders (each
accepted checkout exactly one order, a refused one none), and archives the product. It exits 1 on an
oversell or an undersell (accepted != min(STOCK, SHOPPERS)), any 5xx, or a read-back that does not add up.

`make load-promises` (`--promises`): the shop's promises under load and faults, against the local stack.

    make load-promises PORT=8000              # 200 shoppers race for 40 units, payments sent thrice, every function killed
    python -m tools.load --promises --base-url http://127.0.0.1:8000 --shoppers 200 --stock 40 --kill .local-stack

What it checks, as a shopper, the payment provider and staff would see it:
- a flash sale: every shopper puts one unit in the basket and all check out at once; exactly as many
  orders as units are accepted and made, and the stock ends at zero;
- each order's payment event sent three times at once is applied once (one payment, captured once);
- every consumer's write can be read: each order's audit trail and each buyer's notifications;
- the other races for the last of something (see `races`): a checkout sent many times with one key, a
  promotion's last redemption, refunds and returns asked for at once;
- no answer is a 5xx;
- with `--kill <stack folder>`: every function process is killed (`kill -9`) while the sale's orders are
  on their way; each comes back, and the sale still ends with every order made (a message a killed
  consumer held comes back after its queue's visibility timeout, as in AWS: up to three minutes).

`Shop` is also what `make bench` (checkout latency under load) and tests/e2e drive the stack with.
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import pathlib
import signal
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ADDRESS = {"name": "Load Tester", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}
PASSWORD = "Shopper123!load"


class Broken(AssertionError):
    """A promise the shop did not keep."""


# Every shopper of a load run calls from one address: the stack's per-address limits (the web ACL's) refuse
# them by design, as AWS would. The load check needs a stack started without them.
_THROTTLED = " (throttled: against the local stack, start it with `LOCAL_THROTTLING=off make run`)"


class Shop:
    """The shop's HTTP API as its clients use it. Every answer's status is counted. A 429 or 503 that says when to
    ask again (Retry-After) is waited out and asked again, `retries` times at most and never longer than
    `longest_wait` seconds a time; any other answer, a 429 or 503 without Retry-After among them, is the answer.
    A 5xx that is the answer is kept with what was asked."""

    def __init__(self, base: str, webhook_secret: str | None = None, timeout: float = 60, retries: int = 5,
                 longest_wait: float = 30):
        self.base = base.rstrip("/")
        self.secret = webhook_secret or os.environ.get("PAYMENT_WEBHOOK_SECRET") or "local-webhook-secret"
        self.timeout = timeout
        self.retries, self.longest_wait = retries, longest_wait
        self.method_id: str | None = None  # the shipping method baskets ship by (the first offered)
        self.statuses: collections.Counter = collections.Counter()
        self.retried: collections.Counter = collections.Counter()  # statuses asked again after their Retry-After
        self.server_errors: list[str] = []
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None,
             raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base + path, data=data, method=method,
                                             headers={"Content-Type": "application/json", **(headers or {})})
            try:
                with self._opener.open(request, timeout=self.timeout) as answer:
                    status, payload, said = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, payload, said = error.code, error.read(), error.headers
            wait = retry_after(said.get("Retry-After")) if status in (429, 503) else None
            with self._lock:
                self.statuses[status] += 1
                if wait is not None and attempt < self.retries:
                    self.retried[status] += 1
            if wait is None or attempt == self.retries:
                break
            time.sleep(min(wait, self.longest_wait))
        if status >= 500:
            with self._lock:
                self.server_errors.append(f"{method} {path} -> {status} {payload[:300]!r}")
        try:
            return status, (json.loads(payload) if payload else None)
        except ValueError:  # not the API's answer (a proxy's or a load balancer's page)
            return status, payload.decode("utf-8", "replace")

    def login(self, email: str, password: str) -> dict[str, str]:
        status, tokens = self.call("POST", "/auth/login", {"email": email, "password": password})
        if status != 200:
            raise Broken(f"login as {email}: {status} {tokens}{_THROTTLED if status == 429 else ''}")
        if "idToken" not in tokens:
            raise Broken(f"{email} must answer a challenge ({tokens.get('challenge')}) to sign in: "
                         "give an account without a second factor")
        return {"Authorization": f"Bearer {tokens['idToken']}"}

    def shoppers(self, count: int, threads: int = 8, email: str | None = None,
                 password: str = PASSWORD) -> list[dict[str, str]]:
        """`count` customers, registered and signed in: each one's Authorization header. `email` names them, its
        `{i}` the shopper's number (default: new addresses of this run). Registering an address that has an
        account answers alike, so the holders of existing accounts (`password` theirs) sign in; where sign-ups
        wait for an emailed code, give the addresses of confirmed accounts."""
        template = email or f"load-{uuid.uuid4().hex[:8]}-{{i}}@example.com"

        def one(i: int) -> dict[str, str]:
            address = template.format(i=i)
            status, answer = self.call("POST", "/auth/register", {"email": address, "password": password,
                                                                  "name": f"Shopper {i}"})
            if status != 201:
                raise Broken(f"register {address}: {status} {answer}{_THROTTLED if status == 429 else ''}")
            return self.login(address, password)

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(count)))

    def product(self, staff: dict, stock: int, price: int = 1500, stock_shards: int = 1) -> dict:
        """A new product of one variant with `stock` units, spread over `stock_shards` stock items as staff spread
        a drop's (PATCH of the variant's stockShards)."""
        status, product = self.call("POST", "/products", {"name": f"Load {uuid.uuid4().hex[:8]}", "category": "load",
                                                          "price": price, "currency": "EUR", "stock": stock}, staff)
        if status != 201:
            raise Broken(f"create a product: {status} {product}")
        if stock_shards > 1:
            variant = product["variants"][0]
            status, spread = self.call("PATCH", f"/products/{product['id']}/variants/{variant['id']}",
                                       {"stockShards": stock_shards, "version": variant["version"]}, staff)
            if status != 200:
                raise Broken(f"spread its stock over {stock_shards} items: {status} {spread}")
        return product

    def basket(self, shopper: dict, product_id: str, quantity: int = 1) -> None:
        """`quantity` of `product_id` in the shopper's basket, which ships to ADDRESS: ready to check out."""
        status, answer = self.call("PUT", f"/basket/items/{product_id}", {"quantity": quantity}, shopper)
        if status != 200:
            raise Broken(f"put {product_id} in a basket: {status} {answer}")
        if answer.get("shippingMethod") is None:
            self.ship(shopper)

    def ship(self, shopper: dict, ask: bool = False) -> None:
        """The shopper's basket ships to ADDRESS by the first method offered (the shop must have one). The methods
        are asked once for all shoppers, or by each shopper with `ask`."""
        status, answer = self.call("PUT", "/basket/shipping-address", ADDRESS, shopper)
        if status != 200:
            raise Broken(f"set a shipping address: {status} {answer}")
        method_id = self.method_id
        if method_id is None or ask:
            status, answer = self.call("GET", "/basket/shipping-methods", headers=shopper)
            if status != 200 or not answer["items"]:
                raise Broken(f"no shipping method for {ADDRESS['country']}: {status} {answer}")
            method_id = self.method_id = answer["items"][0]["id"]
        status, answer = self.call("PUT", "/basket/shipping-method", {"id": method_id}, shopper)
        if status != 200:
            raise Broken(f"choose a shipping method: {status} {answer}")

    def checkout(self, shopper: dict) -> tuple[int, Any]:
        return self.call("POST", "/basket/checkout", {}, {**shopper, "Idempotency-Key": uuid.uuid4().hex})

    def pay(self, order_id: str, amount: int, event_id: str | None = None) -> tuple[int, Any]:
        from chalicelib.payments.signature import sign

        raw = json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex}", "type": "payment.succeeded",
                          "orderId": order_id, "amount": amount, "currency": "EUR"}).encode()
        return self.call("POST", "/webhooks/payments", headers={"X-Signature": sign(self.secret, raw)}, raw=raw)

    def order(self, shopper: dict, order_id: str) -> dict | None:
        status, order = self.call("GET", f"/orders/{order_id}", headers=shopper)
        return order if status == 200 else None

    def stock(self, product_id: str) -> int:
        """The stock of a product of one variant (what the load makes)."""
        (variant,) = self.call("GET", f"/products/{product_id}")[1]["variants"]
        return variant["stock"]


def retry_after(value: str | None) -> float | None:
    """The seconds a Retry-After header asks to wait (a number of seconds or an HTTP date), None without one."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def together(calls: Iterable[Callable[[], Any]], threads: int) -> list[Any]:
    """Every call on its own thread (up to `threads` at a time), the first `threads` released at once."""
    calls = list(calls)
    go = threading.Event()

    def run(call: Callable[[], Any]) -> Any:
        go.wait(30)
        return call()

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, call) for call in calls]
        time.sleep(0.3)
        go.set()
        return [future.result() for future in futures]


def eventually(probe: Callable[[], Any], seconds: float, what: str) -> Any:
    """`probe()` until it answers something true; Broken naming `what` once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise Broken(f"after {seconds:.0f} s: {what}")
        time.sleep(0.5)


# --- the checks --------------------------------------------------------------------------------

def flash_sale(shop: Shop, staff: dict, shoppers: list[dict], units: int, *, during: Callable[[], None] = None,
               wait_seconds: float = 60) -> dict:
    """Everyone wants one of `units`: exactly `units` checkouts accepted, as many orders made, no stock left."""
    product = shop.product(staff, stock=units)
    together([lambda s=s: shop.basket(s, product["id"]) for s in shoppers], threads=16)
    started = time.perf_counter()
    answers = together([lambda s=s: shop.checkout(s) for s in shoppers], threads=len(shoppers))
    took = time.perf_counter() - started
    accepted = [(shopper, answer["orderId"]) for shopper, (status, answer) in zip(shoppers, answers)
                if status == 202]
    refused = collections.Counter((status, ((answer or {}).get("error") or {}).get("code"))
                                  for status, answer in answers if status != 202)
    if len(accepted) != units or set(refused) - {(409, "OUT_OF_STOCK")}:
        raise Broken(f"{len(shoppers)} shoppers for {units} units: {len(accepted)} accepted, refused {dict(refused)}")
    if during is not None:
        during()
    orders = [eventually(lambda s=s, o=o: shop.order(s, o), wait_seconds, f"order {o} was never made")
              for s, o in accepted]
    left = shop.stock(product["id"])
    if left != 0:
        raise Broken(f"{units} units sold, {left} still in stock")
    return {"shoppers": len(shoppers), "units": units, "accepted": len(accepted), "orders_made": len(orders),
            "refused": {f"{s} {c}": n for (s, c), n in refused.items()}, "checkout_seconds": round(took, 2),
            "orders": [(shopper, order) for (shopper, _), order in zip(accepted, orders)]}


def triple_payments(shop: Shop, orders: list[tuple[dict, dict]]) -> dict:
    """Each order's payment event sent three times at once: one payment applied, the money captured once."""
    events = [(order, f"evt_{uuid.uuid4().hex}") for _, order in orders]
    answers = together([lambda o=o, e=e: shop.pay(o["id"], o["total"], e) for o, e in events for _ in range(3)],
                       threads=min(96, 3 * len(events)))
    if any(status != 200 for status, _ in answers):
        raise Broken(f"payment answers: {collections.Counter(status for status, _ in answers)}")
    wrong = []
    for shopper, order in orders:
        paid = shop.order(shopper, order["id"])
        if (paid["status"], paid["capturedAmount"], len(paid["payments"])) != ("PAID", order["total"], 1):
            wrong.append((order["id"], paid["status"], paid["capturedAmount"], order["total"], len(paid["payments"])))
    if wrong:
        raise Broken(f"payments applied other than once (id, status, captured, total, payments): {wrong}")
    outcomes = collections.Counter(answer["outcome"] for _, answer in answers)
    return {"events": len(events), "sent": len(answers), "outcomes": dict(outcomes)}


def consumers_wrote(shop: Shop, staff: dict, orders: list[tuple[dict, dict]], wait_seconds: float = 90) -> dict:
    """What the audit and notification consumers wrote is there to read: each order's trail, each buyer's news."""
    def trail(order_id: str) -> set[str]:
        status, body = shop.call("GET", f"/admin/audit?entityType=ORDER&entityId={order_id}", headers=staff)
        return {record["action"] for record in body["items"]} if status == 200 else set()

    def news(shopper: dict) -> set[str]:
        status, body = shop.call("GET", "/me/notifications", headers=shopper)
        return {item["kind"] for item in body["items"]} if status == 200 else set()

    for shopper, order in orders:
        eventually(lambda o=order: {"OrderCreated", "PaymentRecorded"} <= trail(o["id"]), wait_seconds,
                   f"order {order['id']}'s audit trail lacks OrderCreated or PaymentRecorded: {trail(order['id'])}")
        eventually(lambda s=shopper: {"ORDER_CREATED", "ORDER_PAID"} <= news(s), wait_seconds,
                   f"the buyer of {order['id']} lacks ORDER_CREATED or ORDER_PAID: {news(shopper)}")
    return {"audit_trails": len(orders), "notified_buyers": len(orders)}


def races(shop: Shop, staff: dict, buyers: list[dict]) -> dict:
    """The shop's other last-unit races, each run at once over HTTP (at least 8 buyers):
    - one checkout sent eight times with the same Idempotency-Key makes one order and reserves once;
    - a promotion capped at N, checked out by 2N buyers at once, is redeemed exactly N times;
    - six refunds of half an order's money at once: two are accepted, never more than was captured;
    - six returns of one unit of a delivered order of three at once: three are accepted."""
    for buyer in buyers:
        shop.call("DELETE", "/basket", headers=buyer)
    product = shop.product(staff, stock=1000)
    report = {}

    buyer = buyers[0]
    shop.basket(buyer, product["id"], 2)
    same = {**buyer, "Idempotency-Key": uuid.uuid4().hex}
    answers = together([lambda: shop.call("POST", "/basket/checkout", {}, same)] * 8, 8)
    orders = {answer["orderId"] for status, answer in answers if status == 202}
    if len(orders) != 1 or any(status not in (202, 409) for status, _ in answers) or shop.stock(product["id"]) != 998:
        raise Broken(f"one checkout sent 8 times at once: {[s for s, _ in answers]}, orders {orders}, "
                     f"stock {shop.stock(product['id'])} (998 expected)")
    report["same_key_checkouts"] = dict(collections.Counter(status for status, _ in answers))

    cap, group = len(buyers) // 4, buyers[:len(buyers) // 2]
    code = f"LOAD{uuid.uuid4().hex[:8].upper()}"
    status, answer = shop.call("POST", "/admin/promotions", {"code": code, "percentOff": 10, "maxRedemptions": cap,
                                                            "oncePerCustomer": True}, staff)
    if status != 201:
        raise Broken(f"create a promotion: {status} {answer}")
    for buyer in group:
        shop.call("DELETE", "/basket", headers=buyer)
        shop.basket(buyer, product["id"])
        shop.call("PUT", "/basket/promotion", {"code": code}, buyer)
    answers = together([lambda b=b: shop.checkout(b) for b in group], len(group))
    promotion = next(p for p in shop.call("GET", "/admin/promotions?limit=100", headers=staff)[1]["items"]
                     if p["code"] == code)
    accepted = sum(status == 202 for status, _ in answers)
    if accepted != cap or promotion["redemptions"] != cap:
        raise Broken(f"a promotion capped at {cap}, {len(group)} buyers at once: {accepted} accepted, "
                     f"{promotion['redemptions']} redemptions")
    report["promotion_cap"] = {"cap": cap, "buyers": len(group), "redeemed": promotion["redemptions"]}

    buyer = buyers[-1]
    shop.call("DELETE", "/basket", headers=buyer)
    shop.basket(buyer, product["id"], 3)
    status, answer = shop.checkout(buyer)
    order = eventually(lambda: shop.order(buyer, answer["orderId"]), 60, "the refunded order was never made")
    shop.pay(order["id"], order["total"])
    half = order["total"] // 2
    answers = together([lambda: shop.call("POST", f"/admin/orders/{order['id']}/refunds",
                                          {"amount": half, "reason": "load"},
                                          {**staff, "Idempotency-Key": uuid.uuid4().hex})] * 6, 6)
    refunds = shop.call("GET", f"/admin/orders/{order['id']}/refunds", headers=staff)[1]["items"]
    if sum(status == 201 for status, _ in answers) != 2 or sum(r["amount"] for r in refunds) > order["total"]:
        raise Broken(f"six refunds of half at once: {[s for s, _ in answers]}, refunds {refunds}")
    report["refunds_of_half"] = dict(collections.Counter(status for status, _ in answers))

    for target in ("SHIPPED", "DELIVERED"):
        shop.call("POST", f"/admin/orders/{order['id']}/status", {"status": target}, staff)
    answers = together([lambda: shop.call("POST", f"/orders/{order['id']}/returns",
                                          {"lines": [{"productId": product["id"], "quantity": 1}], "reason": "load"},
                                          {**buyer, "Idempotency-Key": uuid.uuid4().hex})] * 6, 6)
    if sum(status == 201 for status, _ in answers) != 3:
        raise Broken(f"six returns of one of three units at once: {[s for s, _ in answers]}")
    report["returns_of_one"] = dict(collections.Counter(status for status, _ in answers))
    return report


def kill_every_function(folder: pathlib.Path, shop: Shop, wait_seconds: float = 90,
                        only: Iterable[str] | None = None) -> dict:
    """`kill -9` of each function process (or those named in `only`), its id from its ready file; each must come
    back, the API answering again. How long each took to come back, in seconds."""
    back = {}
    for ready in sorted(folder.glob("*.ready")):
        if only is not None and ready.stem not in only:
            continue
        function, pid = ready.stem, int(ready.read_text() or 0)
        if not _runs_function(pid, function):
            raise Broken(f"{ready} names process {pid}, which is not {function}'s: is the stack running?")
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        eventually(lambda r=ready, p=pid: r.exists() and r.read_text() not in ("", str(p)), wait_seconds,
                   f"{function} did not come back after kill -9")
        if function == "api_handler":
            eventually(lambda: shop.call("GET", "/health")[0] == 200, wait_seconds, "the API did not answer again")
        back[function] = round(time.monotonic() - started, 1)
    if not back:
        raise Broken(f"no function's ready file in {folder}")
    return back


def _runs_function(pid: int, function: str) -> bool:
    """Process `pid` is `python -m local.function <function>` (a ready file outliving its process must not
    make this kill another)."""
    import subprocess

    # -ww: the whole command line, however wide (ps cuts it to $COLUMNS otherwise, and a long path to the
    # virtualenv's python then leaves the function's name out).
    command = subprocess.run(["ps", "-ww", "-p", str(pid), "-o", "command="], capture_output=True,
                             text=True).stdout.split()
    return "local.function" in command and function in command


def check(shop: Shop, shoppers: int, units: int, folder: pathlib.Path | None = None, say=print,
          staff: dict | None = None) -> dict:
    """Every check above in turn, as `staff` (default: the demo admin); Broken at the first promise not kept.
    What was measured, as a dict."""
    if staff is None:
        from local.seed import logins

        email, password, _ = logins()["admin"]
        staff = shop.login(email, password)
    report: dict[str, Any] = {}
    say(f"registering {shoppers} shoppers…")
    buyers = shop.shoppers(shoppers)
    killed: dict = {}
    during = (lambda: killed.update(kill_every_function(folder, shop))) if folder is not None else None
    say(f"{shoppers} shoppers check out at once for {units} units" + (", every function killed meanwhile…"
                                                                      if folder is not None else "…"))
    sale = flash_sale(shop, staff, buyers, units, during=during, wait_seconds=240 if folder is not None else 60)
    orders = sale.pop("orders")
    report["flash_sale"] = sale
    if killed:
        report["functions_back_after_kill_seconds"] = killed
    say("each payment event sent three times at once…")
    report["payments"] = triple_payments(shop, orders)
    say("reading what the consumers wrote…")
    report["consumers"] = consumers_wrote(shop, staff, orders)
    say("the other races: one checkout sent eight times, a promotion's last redemption, refunds, returns…")
    report["races"] = races(shop, staff, buyers)
    report["statuses"] = {str(k): v for k, v in sorted(shop.statuses.items())}
    if shop.server_errors:
        raise Broken(f"{len(shop.server_errors)} answers were 5xx: {shop.server_errors[:5]}")
    return report


# --- one hot SKU: `make load` -------------------------------------------------------------------

RESULT_FIELDS = ("shoppers", "stock", "accepted", "refused", "errors_5xx", "errors_other", "p50_ms", "p95_ms",
                 "p99_ms", "goodput_per_s")


def staff_login(shop: Shop, environment: dict | None = None) -> dict[str, str]:
    """Staff's Authorization header: LOAD_ADMIN_EMAIL and LOAD_ADMIN_PASSWORD, else the local stack's admin
    (local/seed.py: its demo login, or LOCAL_ADMIN_EMAIL and LOCAL_ADMIN_PASSWORD)."""
    environment = os.environ if environment is None else environment
    email, password = environment.get("LOAD_ADMIN_EMAIL"), environment.get("LOAD_ADMIN_PASSWORD")
    if not email or not password:
        from local.seed import logins

        email, password, _ = logins()["admin"]
    return shop.login(email, password)


def hot_sku(shop: Shop, staff: dict, shoppers: int, stock: int, *, email: str | None = None,
            password: str = PASSWORD, say: Callable[[str], None] = print, order_seconds: float = 120,
            stock_shards: int = 1) -> dict:
    """`shoppers` customers want one unit each of a new product of `stock` units, and all check out at the same
    moment. What came of it: RESULT_FIELDS, then what the checks after the race found (`problems`, empty when
    every promise was kept) and what explains the numbers.

    Kept when: accepted == min(stock, shoppers) (more is an oversell, fewer an undersell), no answer a 5xx, the
    stock read back is stock - accepted, each accepted checkout became exactly one order, a refused one none.
    Only what the API says may be asked again is (Shop: 429 or 503 with Retry-After); a checkout keeps its
    Idempotency-Key when it is."""
    product = shop.product(staff, stock=stock, stock_shards=stock_shards)
    say(f"{shoppers} shoppers register or sign in, each puts one unit of {product['id']} (stock {stock} over "
        f"{stock_shards} stock item{'s' if stock_shards > 1 else ''}) in the basket and ships it…")
    buyers = shop.shoppers(shoppers, email=email, password=password)

    def ready(buyer: dict) -> None:
        shop.call("DELETE", "/basket", headers=buyer)  # a signed-in shopper's basket may hold an earlier run's
        status, answer = shop.call("PUT", f"/basket/items/{product['id']}", {"quantity": 1}, buyer)
        if status != 200:
            raise Broken(f"put {product['id']} in a basket: {status} {answer}")
        shop.ship(buyer, ask=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ready, buyers))

    say(f"{shoppers} shoppers check out at the same moment…")
    barrier = threading.Barrier(len(buyers) + 1)

    def check_out(buyer: dict) -> tuple[int, Any, float]:
        barrier.wait(120)
        began = time.perf_counter()
        try:
            status, answer = shop.checkout(buyer)
        except (OSError, http.client.HTTPException) as error:  # no answer at all: refused, reset, timed out
            status, answer = 0, f"{type(error).__name__}: {error}"
        return status, answer, time.perf_counter() - began

    with ThreadPoolExecutor(len(buyers)) as pool:
        futures = [pool.submit(check_out, buyer) for buyer in buyers]
        barrier.wait(120)
        released = time.perf_counter()
        answers = [future.result() for future in futures]
        race_seconds = time.perf_counter() - released  # to the last answer

    def code(answer: Any) -> str | None:
        return ((answer.get("error") or {}).get("code")) if isinstance(answer, dict) else None

    won = [answer["orderId"] if status == 202 else None for status, answer, _ in answers]  # by buyer
    accepted = [order_id for order_id in won if order_id is not None]
    refused = collections.Counter(code(answer) for status, answer, _ in answers if status == 409)
    server = collections.Counter(status for status, _, _ in answers if status >= 500)
    other = collections.Counter(status for status, _, _ in answers if status not in (202, 409) and status < 500)
    timing = latency([took for _, _, took in answers])
    result = {"shoppers": shoppers, "stock": stock, "accepted": len(accepted), "refused": sum(refused.values()),
              "errors_5xx": sum(server.values()), "errors_other": sum(other.values()),
              "p50_ms": timing["p50_ms"], "p95_ms": timing["p95_ms"], "p99_ms": timing["p99_ms"],
              "goodput_per_s": round(len(accepted) / race_seconds, 1)}
    problems = []
    expected = min(stock, shoppers)
    if len(accepted) > expected:
        problems.append(f"oversold: {len(accepted)} checkouts accepted for {stock} units")
    elif len(accepted) < expected:
        problems.append(f"undersold: {len(accepted)} checkouts accepted, {expected} expected "
                        f"(refused: {dict(refused)}, other answers: {dict(other)})")
    if server:
        problems.append(f"{sum(server.values())} checkouts answered 5xx: {dict(server)}")

    say("after the race: the orders and the stock, over the API…")
    problems += _orders_made(shop, product["id"], buyers, won, order_seconds)
    left = shop.stock(product["id"])
    if left != stock - len(accepted) or left < 0:
        problems.append(f"the stock reads {left} after {len(accepted)} of {stock} units were sold "
                        f"({stock - len(accepted)} expected)")
    archived = shop.call("DELETE", f"/products/{product['id']}", headers=staff)[0]  # out of the catalogue again
    return {**result, "problems": problems, "product": product["id"], "stock_left": left,
            "race_seconds": round(race_seconds, 2), "refused_by_code": dict(refused),
            "errors_5xx_by_status": {str(k): v for k, v in server.items()},
            "errors_other_by_status": {str(k): v for k, v in other.items()},
            "retried": {str(k): v for k, v in shop.retried.items()}, "product_archived": archived in (200, 204)}


def _orders_made(shop: Shop, product_id: str, buyers: list[dict], won: list[str | None],
                 seconds: float) -> list[str]:
    """Each accepted checkout (`won`: the order id each buyer's checkout answered, None when refused) became
    exactly one order of `product_id`, waited for `seconds` in all, and no other buyer has one: what is wrong,
    as sentences."""
    problems = []
    accepted = [(buyer, order_id) for buyer, order_id in zip(buyers, won) if order_id is not None]
    if len({order_id for _, order_id in accepted}) != len(accepted):
        problems.append("two accepted checkouts answered the same order id")
    deadline = time.monotonic() + seconds

    def made(order_id: str, buyer: dict) -> bool:
        while True:
            status, order = shop.call("GET", f"/orders/{order_id}", headers=buyer)
            if status == 200:
                return any(line["productId"] == product_id for line in order["items"])
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(made, [order_id for _, order_id in accepted], [buyer for buyer, _ in accepted]))
    missing = [order_id for (_, order_id), there in zip(accepted, found) if not there]
    if missing:
        problems.append(f"{len(missing)} accepted checkouts made no order of the product within {seconds:.0f} s: "
                        f"{missing[:5]}")

    def holding(buyer: dict) -> list[str]:  # the buyer's orders of this product, every page
        found, cursor = [], None
        while True:
            status, page = shop.call("GET", "/orders?limit=100" + (f"&cursor={urllib.parse.quote(cursor)}"
                                                                   if cursor else ""), headers=buyer)
            if status != 200:
                raise Broken(f"list a buyer's orders: {status} {page}")
            found += [o["id"] for o in page["items"] if any(line["productId"] == product_id for line in o["items"])]
            cursor = page.get("nextCursor")
            if not cursor:
                return found

    with ThreadPoolExecutor(8) as pool:
        held = list(pool.map(holding, buyers))
    wrong = [(orders, order_id) for orders, order_id in zip(held, won)
             if orders != ([order_id] if order_id is not None else [])]
    if wrong:
        problems.append(f"{len(wrong)} buyers hold other than one order per accepted checkout "
                        f"(their orders of the product, the order accepted): {wrong[:5]}")
    return problems


def race(shop: Shop, shoppers: int, stock: int, out: pathlib.Path | None, staff: dict | None = None,
         say: Callable[[str], None] = print, environment: dict | None = None, stock_shards: int = 1) -> int:
    """`make load`: hot_sku against the shop, told and written to `out` (RESULT_FIELDS); 0 when every promise was
    kept, 1 otherwise."""
    environment = os.environ if environment is None else environment
    if staff is None:
        staff = staff_login(shop, environment)
    report = hot_sku(shop, staff, shoppers, stock, email=environment.get("LOAD_SHOPPER_EMAIL"),
                     password=environment.get("LOAD_SHOPPER_PASSWORD") or PASSWORD, say=say,
                     stock_shards=stock_shards)
    result = {name: report[name] for name in RESULT_FIELDS}
    refused = ", ".join(f"{c}: {n}" for c, n in report["refused_by_code"].items())
    other, retried = report["errors_other_by_status"], report["retried"]
    say(f"{shoppers} shoppers, stock {stock}: {result['accepted']} accepted, {result['refused']} refused with 409"
        + (f" ({refused})" if refused else "") + f", {result['errors_5xx']} 5xx, {result['errors_other']} other "
        "errors" + (f" {other}" if other else ""))
    say(f"checkout latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms; goodput "
        f"{result['goodput_per_s']} accepted checkouts/s over a {report['race_seconds']} s race"
        + (f"; asked again after Retry-After: {retried}" if retried else ""))
    say(f"after it: stock {report['stock_left']} of {stock}, every buyer's orders read back")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        say(f"wrote {out}")
    if len(shop.server_errors) > result["errors_5xx"]:  # besides the checkouts: setting up, reading back
        report["problems"].append(f"{len(shop.server_errors)} answers were 5xx: {shop.server_errors[:5]}")
    for problem in report["problems"]:
        say(f"BROKEN: {problem}")
    if not report["problems"]:
        say("no oversell, no undersell, no 5xx: every accepted checkout is one order, the stock adds up")
    return 1 if report["problems"] else 0


def latency(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"count": len(samples), "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99),
            "mean_ms": round(statistics.mean(samples) * 1000, 1) if samples else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", "--url", dest="url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
                        help="the API's URL (default: the local stack on $PORT)")
    parser.add_argument("--shoppers", type=int, default=200, help="shoppers racing, one thread each (200)")
    parser.add_argument("--stock", "--units", dest="stock", type=int, default=40, help="units of the hot SKU (40)")
    parser.add_argument("--stock-shards", type=int, default=1,
                        help="stock items the hot SKU's stock is spread over, 1-50 (its variant's stockShards; 1)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("dist/load.json"),
                        help="where the numbers are written (dist/load.json)")
    parser.add_argument("--promises", action="store_true",
                        help="the promises under load and faults instead (see above): payments, consumers, races")
    parser.add_argument("--kill", metavar="STACK_FOLDER", type=pathlib.Path,
                        help="with --promises: kill -9 every function of the local stack using this folder "
                             "(.local-stack) during the sale")
    args = parser.parse_args(argv)
    if args.shoppers < 1 or args.stock < 0 or not 1 <= args.stock_shards <= 50:
        parser.error("--shoppers must be 1 or more, --stock 0 or more and --stock-shards 1 to 50")
    shop = Shop(args.url)
    try:
        if not args.promises:
            if args.kill is not None:
                parser.error("--kill goes with --promises")
            return race(shop, args.shoppers, args.stock, args.out, stock_shards=args.stock_shards)
        report = check(shop, args.shoppers, args.stock, args.kill)
    except Broken as broken:
        print(f"BROKEN: {broken}", file=sys.stderr)
        print(json.dumps({"statuses": dict(shop.statuses), "server_errors": shop.server_errors[:20]}, indent=1))
        return 1
    print(json.dumps(report, indent=1))
    print("every promise kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
