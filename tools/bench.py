"""`make bench`: what a cold start, a request, an operation and a deployment cost, each as a ratio
against a bare Chalice baseline measured in the same run. Writes dist/bench.json."""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Self

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = sys.executable
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def _import_ms(statement: str) -> float:
    """In a Lambda-like process, where the app registers a domain when a request first needs it."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), **AWS_ENV, "AWS_LAMBDA_FUNCTION_NAME": "shop-bench"})
    return float(out.stdout.strip())


# What a cold GET /products/{id} loads before it can answer: the app plus the catalogue domain,
# against a bare Chalice app that defines one pydantic model and creates a DynamoDB client.
FIRST_ROUTE = ("import app, chalicelib.catalogue.routes; from chalicelib.composition import services;"
               " services().catalogue; "
               "import chalicelib.core.dynamo, chalicelib.core.aws; chalicelib.core.aws.client('dynamodb')")
BARE_FIRST_ROUTE = ("import chalice, boto3, pydantic; from pydantic import BaseModel\n"
                    "class Product(BaseModel):\n    id: str\n    price: int\n"
                    "boto3.client('dynamodb')")


def cold_import(runs: int = 15) -> dict:
    samples: dict[str, list[float]] = {"bare": [], "app": [], "bare_first_route": [], "app_first_route": []}
    for _ in range(runs):  # interleaved, so machine load affects both alike
        samples["bare"].append(_import_ms("import chalice, boto3, pydantic"))
        samples["app"].append(_import_ms("import app"))
        samples["bare_first_route"].append(_import_ms(f"exec({BARE_FIRST_ROUTE!r})"))
        samples["app_first_route"].append(_import_ms(FIRST_ROUTE))
    m = {k: statistics.median(v) for k, v in samples.items()}
    return {"bare_ms": round(m["bare"], 1), "app_ms": round(m["app"], 1), "ratio": round(m["app"] / m["bare"], 2),
            "first_route_bare_ms": round(m["bare_first_route"], 1),
            "first_route_app_ms": round(m["app_first_route"], 1),
            "first_route_ratio": round(m["app_first_route"] / m["bare_first_route"], 2), "runs": runs}


# --- whole cold first request -------------------------------------------------------------

# A fresh process (as a new Lambda container) imports the handler module with the prod stage's
# settings and answers GET /products/{id} through Chalice's entry point, against a moto server.
# The bare app answers the same route with the same reads (the product's item, then its variants' sale records
# in one BatchGetItem) and a pydantic model.
BARE_COLD = """
import os
import boto3
from chalice import Chalice
from pydantic import BaseModel


class Variant(BaseModel):
    id: str
    prices: dict[str, int]
    stock: int


class Product(BaseModel):
    id: str
    name: str
    variants: list[Variant]


app = Chalice(app_name="bare")


@app.route("/products/{product_id}")
def get_product(product_id):
    ddb, table = boto3.client("dynamodb"), os.environ["TABLE_NAME"]
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "PRODUCT#" + product_id}, "SK": {"S": "PRODUCT"}})["Item"]
    variants = item["variants"]["M"]
    records = ddb.batch_get_item(RequestItems={table: {"Keys": [
        {"PK": {"S": "STOCK#" + variant_id}, "SK": {"S": "STOCK"}} for variant_id in variants]}})["Responses"][table]
    stocks = {record["PK"]["S"].removeprefix("STOCK#"): int(record["stock"]["N"]) for record in records}
    return Product(id=item["id"]["S"], name=item["name"]["S"], variants=[
        {"id": variant_id, "stock": stocks.get(variant_id, 0),
         "prices": {currency: int(amount["N"]) for currency, amount in fields["M"]["prices"]["M"].items()}}
        for variant_id, fields in variants.items()]).model_dump()
"""
_COLD_REQUEST = """
import json, sys, time, types
start, cpu = time.perf_counter(), time.process_time()
if sys.argv[1] == "bare":
    module = types.ModuleType("bare_app")
    exec(compile(sys.argv[3], "bare_app.py", "exec"), module.__dict__)
    application = module.app
else:
    import app
    application = app.app
event = {"resource": "/products/{product_id}", "path": "/products/" + sys.argv[2], "httpMethod": "GET",
         "headers": {"Host": "bench"}, "multiValueHeaders": {}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": {"product_id": sys.argv[2]},
         "stageVariables": None, "body": None, "isBase64Encoded": False,
         "requestContext": {"resourcePath": "/products/{product_id}", "httpMethod": "GET", "stage": "api",
                            "requestId": "bench-request", "identity": {"sourceIp": "127.0.0.1"}}}
context = types.SimpleNamespace(aws_request_id="bench-request", function_name="shop-prod",
                                memory_limit_in_mb=512, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:b",
                                get_remaining_time_in_millis=lambda: 10_000)
answer = application(event, context)
elapsed, cpu_ms = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
assert answer["statusCode"] == 200, answer
print(json.dumps({"ms": elapsed, "cpu_ms": cpu_ms}))
"""


def _prod_environment() -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"]["prod"]["environment_variables"]}


def _reset_emulator(endpoint: str) -> None:
    """Forget every resource of an in-process moto server (its backends are shared by the process)."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()


@contextlib.contextmanager
def _lamp_on_an_emulator(**env: str):
    """An in-process moto server holding the local stack and one product, a span sink standing in for
    the collector, and the environment pointing at them; all undone on leaving.
    Yields (endpoint, stack, product, sink)."""
    import logging

    from moto.server import ThreadedMotoServer

    from local.emulator import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    sink = _span_sink()
    saved = dict(os.environ)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _reset_emulator(endpoint)  # moto's state is per process: an earlier section's stack is still there
        os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint, **env)
        from local.bootstrap import bootstrap

        stack = bootstrap("local", endpoint)
        os.environ["TABLE_NAME"] = stack["table_name"]
        _forget_caches()
        from chalicelib.catalogue.models import ProductCreate
        from chalicelib.composition import Services

        product = Services().catalogue.create(ProductCreate(name="Lamp", category="bench", price=100,
                                                            currency="EUR", stock=5), actor="bench")
        yield endpoint, stack, product, sink
    finally:
        server.stop()
        sink.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def cold_request(runs: int = 15) -> dict:
    """Median whole cold first request: bare Chalice vs the app with tracing off and on (and with every domain
    registered at import), interleaved.

    Wall time, and the process's CPU time: the same work, but not stretched by whatever else the
    machine runs meanwhile (a cold start here is CPU-bound; moto answers from the parent process)."""
    with _lamp_on_an_emulator() as (endpoint, stack, product, sink):
        # What Lambda gives a traced function: its trace header, the daemon's address, the task root.
        lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "shop-prod", "LAMBDA_TASK_ROOT": str(ROOT),
                      "_X_AMZN_TRACE_ID": "Root=1-6740f000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
                      "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                      "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"}
        base = {"PATH": os.environ.get("PATH", ""), **AWS_ENV, **_prod_environment(), **lambda_env,
                "AWS_ENDPOINT_URL": endpoint, "TABLE_NAME": stack["table_name"], "LOG_LEVEL": "WARNING"}
        # every_domain: tracing off, but each domain's blueprint registered at import, as an initialisation
        # ending in a SnapStart snapshot does; against tracing_off (registered by the request that needs it),
        # what registering on need saves (core/routing.py).
        variants = {"bare": ("bare", base), "tracing_off": ("app", {**base, "TRACING": "false"}),
                    "tracing_on": ("app", {**base, "TRACING": "true"}),
                    "every_domain": ("app", {**base, "TRACING": "false",
                                             "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})}
        samples: dict[str, dict[str, list[float]]] = {name: {"ms": [], "cpu_ms": []} for name in variants}
        for _ in range(runs):  # interleaved, so machine load affects all alike
            for name, (kind, env) in variants.items():
                out = subprocess.run([PY, "-c", _COLD_REQUEST, kind, product.id, BARE_COLD], cwd=ROOT,
                                     capture_output=True, text=True, check=True, env=env)
                answer = json.loads(out.stdout.strip().splitlines()[-1])
                for measure in ("ms", "cpu_ms"):
                    samples[name][measure].append(answer[measure])
        report: dict = {}
        for measure in ("ms", "cpu_ms"):
            m = {k: statistics.median(v[measure]) for k, v in samples.items()}
            suffix = "" if measure == "ms" else "_cpu"
            report[f"bare{suffix}_ms"] = round(m["bare"], 1)
            for name in [variant for variant in variants if variant != "bare"]:
                report[f"{name}{suffix}_ms"] = round(m[name], 1)
                report[f"{name}{suffix}_ratio"] = round(m[name] / m["bare"], 2)
            report[f"every_domain{suffix}_vs_on_need"] = round(m["every_domain"] / m["tracing_off"], 3)
        return {**report, "targets": {"tracing_off_ratio": 1.10, "tracing_on_ratio": 1.25}, "runs": runs,
                "spans_received": sink.received}


def tracing_cost(blocks: int = 8, requests: int = 50) -> dict:
    """What tracing adds to a warm GET /products/{id} (handler span, GetItem span, one export to a
    collector on localhost): blocks of requests with tracing off and on, alternating."""
    with _lamp_on_an_emulator(LOG_LEVEL="WARNING") as (_, _, product, sink):
        from chalice.test import Client

        from app import app
        from chalicelib.core.observability import start_tracing, stop_tracing
        from chalicelib.core.otlp import OtlpJsonExporter

        samples: dict[str, list[float]] = {"off": [], "on": []}
        with Client(app, stage_name="local") as client:
            for block in range(blocks * 2 + 2):
                traced = block % 2 == 1
                if traced:
                    start_tracing(OtlpJsonExporter(f"http://127.0.0.1:{sink.server_port}"), per_invocation=True)
                for _ in range(requests):
                    start = time.perf_counter()
                    assert client.http.get(f"/products/{product.id}").status_code == 200
                    if block >= 2:  # the first two blocks warm both paths up
                        samples["on" if traced else "off"].append((time.perf_counter() - start) * 1000)
                stop_tracing()
        off, on = statistics.median(samples["off"]), statistics.median(samples["on"])
        return {"off_ms": round(off, 2), "on_ms": round(on, 2), "added_ms": round(on - off, 2), "target_ms": 2.0,
                "exports": sink.received}


def _span_sink():
    """Stands in for the collector extension on localhost: accepts OTLP/HTTP exports, counts them."""
    import http.server
    import threading

    from local.emulator import free_port

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.server.received += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Sink)
    server.received = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- AWS calls per operation ---------------------------------------------------------------

# What each access pattern needs (docs/access-patterns.md). The account check of authenticated calls is
# remembered per container (users/account_status.py): it costs its GetItem only on an account's first
# request in a container, or once its bound passed, so it is measured once, on its own row.
MINIMUM = {
    "POST /products (4 variants)": 3, "POST /products/{id}/variants": 4,
    "PATCH /products/{id}/variants/{variant_id}": 4, "POST /products/{id}/variants/{variant_id}/stock": 4,
    "PUT /basket/currency (unchanged)": 2,
    "GET /products/{id}": 2, "GET /products?category": 2, "GET /orders (account not cached)": 2,
    "GET /basket": 2, "PUT /basket/items/{id}": 3, "POST /basket/checkout": 5,
    "create_orders (10 messages)": 12, "POST /webhooks/payments": 4, "GET /orders": 1,
    "POST /admin/orders/{id}/status": 4, "POST /admin/orders/{id}/refunds": 4,
    "POST /webhooks/payments (refund.succeeded)": 4, "POST /orders/{id}/returns": 4,
    "PUT /basket/promotion": 3, "POST /basket/checkout (with a promotion)": 5,
    "PUT /admin/tax-rates/{zone}/{tax_class}": 4, "GET /admin/tax-rates": 1, "POST /admin/shipping-methods": 3,
    "PATCH /admin/shipping-methods/{id}": 4, "PUT /basket/shipping-address": 4, "GET /basket/shipping-methods": 2,
    "PUT /basket/shipping-method": 3,
    # The order (GetItem), its one transaction (the order item with the shipment, the outbox), PutEvents, and
    # the outbox marks cleared.
    "POST /admin/orders/{id}/shipments": 4, "POST /admin/orders/{id}/shipments/{shipment_id}/delivered": 4,
    # Stripe's paths (AWS calls; their Stripe calls in STRIPE_MINIMUM). The order read, then its intent kept by a
    # conditional UpdateItem; asked again, the order alone. The webhook as the generic one. Paying a refund back:
    # the order and the refund in one BatchGetItem, then the settlement's transaction, its event and the outbox mark.
    "POST /orders/{id}/payment": 2, "POST /orders/{id}/payment (again)": 1,
    "POST /webhooks/stripe (payment_intent.succeeded)": 4, "payment_provider: RefundRequested": 4,
    "payment_provider: OrderCancelled": 1,
}
# Calls to Stripe: making the intent; looking at it again (its status now); cancelling it; one refund.
STRIPE_MINIMUM = {"POST /orders/{id}/payment": 1, "POST /orders/{id}/payment (again)": 1,
                  "POST /webhooks/stripe (payment_intent.succeeded)": 0, "payment_provider: RefundRequested": 1,
                  "payment_provider: OrderCancelled": 1}


def aws_calls() -> dict:
    from moto import mock_aws

    import contextlib
    import io

    os.environ.update(AWS_ENV)
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):  # the app's own log lines
        return _count_calls()


def _count_calls() -> dict:
    import uuid

    from chalice.test import Client

    from local.bootstrap import bootstrap

    stack = bootstrap("local", None)
    os.environ.update({"TABLE_NAME": stack["table_name"], "EVENT_BUS_NAME": stack["event_bus_name"],
                       "USER_POOL_ID": stack["user_pool_id"], "USER_POOL_CLIENT_ID": stack["user_pool_client_id"]})
    sys.path.insert(0, str(ROOT))
    from app import app
    from chalicelib.core.aws import client as aws_client
    from chalicelib.payments.signature import sign
    from tests.fakes import ADMIN, auth
    from tests.shop import ADDRESS, eventbridge_body, published_through, sqs_event

    calls: list[str] = []
    for service in ("dynamodb", "events", "cognito-idp"):
        aws_client(service).meta.events.register(f"before-call.{service}.*",
                                                 lambda model, **kw: calls.append(model.name))
    ann = auth("bench-ann")
    results = {}
    with published_through() as bus, Client(app, stage_name="local") as client:
        def measure(label, method, path, body=None, headers=None):
            calls.clear()
            response = getattr(client.http, method)(path, headers={"Content-Type": "application/json",
                                                                    **(headers or {})},
                                                    body=json.dumps(body) if body is not None else None)
            results[label] = {"calls": list(calls), "count": len(calls), "minimum": MINIMUM.get(label),
                              "status": response.status_code}
            return json.loads(response.body) if response.body else None

        product = json.loads(client.http.post("/products", headers={"Content-Type": "application/json", **ADMIN},
                                              body=json.dumps({"name": "Bench", "category": "bench", "price": 100,
                                                               "currency": "EUR", "stock": 1000})).body)
        tee = measure("POST /products (4 variants)", "post", "/products", {
            "name": "Bench tee", "category": "bench", "options": [{"name": "Size", "values": ["S", "M", "L", "XL"]}],
            "variants": [{"sku": f"BENCH-{size}", "options": {"Size": size}, "stock": 100,
                          "prices": [{"currency": "EUR", "amount": 100}, {"currency": "USD", "amount": 110}]}
                         for size in ("S", "M", "L")]}, ADMIN)
        measure("POST /products/{id}/variants", "post", f"/products/{tee['id']}/variants",
                {"sku": "BENCH-XL", "options": {"Size": "XL"}, "prices": [{"currency": "EUR", "amount": 120}]}, ADMIN)
        measure("PATCH /products/{id}/variants/{variant_id}", "patch",
                f"/products/{tee['id']}/variants/{tee['variants'][0]['id']}",
                {"prices": [{"currency": "EUR", "amount": 90}, {"currency": "USD", "amount": 100}], "version": 1}, ADMIN)
        measure("POST /products/{id}/variants/{variant_id}/stock", "post",
                f"/products/{tee['id']}/variants/{tee['variants'][0]['id']}/stock", {"delta": 5, "reason": "bench"},
                ADMIN)
        measure("GET /products/{id}", "get", f"/products/{product['id']}")
        measure("GET /products?category", "get", "/products?category=bench")
        measure("GET /orders (account not cached)", "get", "/orders", headers=ann)
        measure("PUT /basket/items/{id}", "put", f"/basket/items/{product['id']}", {"quantity": 1}, ann)
        measure("GET /basket", "get", "/basket", headers=ann)
        measure("PUT /basket/currency (unchanged)", "put", "/basket/currency", {"currency": "EUR"}, ann)
        # Staff set a rate and a method (each change with its audited event); the shopper ships with it.
        measure("PUT /admin/tax-rates/{zone}/{tax_class}", "put", "/admin/tax-rates/BE/standard",
                {"ratePercent": 21}, ADMIN)
        measure("GET /admin/tax-rates", "get", "/admin/tax-rates", headers=ADMIN)
        method = measure("POST /admin/shipping-methods", "post", "/admin/shipping-methods",
                         {"name": "Bench", "zones": ["BE"], "rates": [{"currency": "EUR", "amount": 0}]}, ADMIN)
        measure("PATCH /admin/shipping-methods/{id}", "patch", f"/admin/shipping-methods/{method['id']}",
                {"minDays": 1}, ADMIN)
        measure("PUT /basket/shipping-address", "put", "/basket/shipping-address", ADDRESS, ann)
        measure("GET /basket/shipping-methods", "get", "/basket/shipping-methods", headers=ann)
        measure("PUT /basket/shipping-method", "put", "/basket/shipping-method", {"id": method["id"]}, ann)

        def ship() -> None:
            for path, body in (("/basket/shipping-address", ADDRESS), ("/basket/shipping-method", {"id": method["id"]})):
                client.http.put(path, headers={"Content-Type": "application/json", **ann}, body=json.dumps(body))

        accepted = measure("POST /basket/checkout", "post", "/basket/checkout", {"shippingAddress": ADDRESS},
                           {**ann, "Idempotency-Key": uuid.uuid4().hex})
        checkouts = [bus.of_type("CheckoutRequested")[-1]]
        for _ in range(9):
            client.http.put(f"/basket/items/{product['id']}", headers={"Content-Type": "application/json", **ann},
                            body=json.dumps({"quantity": 1}))
            ship()
            client.http.post("/basket/checkout", headers={"Content-Type": "application/json", **ann,
                                                          "Idempotency-Key": uuid.uuid4().hex},
                             body=json.dumps({"shippingAddress": ADDRESS}))
            checkouts.append(bus.of_type("CheckoutRequested")[-1])
        calls.clear()
        client.lambda_.invoke("create_orders", sqs_event(client, [eventbridge_body(e) for e in checkouts]))
        results["create_orders (10 messages)"] = {"calls": list(calls), "count": len(calls),
                                                  "minimum": MINIMUM["create_orders (10 messages)"]}
        measure("GET /orders", "get", "/orders", headers=ann)
        raw = json.dumps({"id": "evt-bench", "type": "payment.succeeded", "orderId": accepted["orderId"],
                          "amount": 100, "currency": "EUR"}).encode()
        calls.clear()
        client.http.post("/webhooks/payments", headers={"Content-Type": "application/json",
                                                        "X-Signature": sign("local-webhook-secret", raw)}, body=raw)
        results["POST /webhooks/payments"] = {"calls": list(calls), "count": len(calls),
                                              "minimum": MINIMUM["POST /webhooks/payments"]}
        shipped = measure("POST /admin/orders/{id}/status", "post", f"/admin/orders/{accepted['orderId']}/status",
                          {"status": "SHIPPED"}, ADMIN)
        refund = measure("POST /admin/orders/{id}/refunds", "post", f"/admin/orders/{accepted['orderId']}/refunds",
                         {"amount": 10, "reason": "bench"}, {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
        raw = json.dumps({"id": "evt-bench-refund", "type": "refund.succeeded", "orderId": accepted["orderId"],
                          "refundId": refund["id"], "amount": 10, "currency": "EUR"}).encode()
        calls.clear()
        client.http.post("/webhooks/payments", headers={"Content-Type": "application/json",
                                                        "X-Signature": sign("local-webhook-secret", raw)}, body=raw)
        results["POST /webhooks/payments (refund.succeeded)"] = {
            "calls": list(calls), "count": len(calls), "minimum": MINIMUM["POST /webhooks/payments (refund.succeeded)"]}
        measure("POST /admin/orders/{id}/shipments/{shipment_id}/delivered", "post",
                f"/admin/orders/{accepted['orderId']}/shipments/{shipped['shipments'][0]['id']}/delivered",
                headers=ADMIN)
        # A second order, paid, shipped in a parcel with its carrier and tracking.
        second = checkouts[1].data["orderId"]
        raw = json.dumps({"id": "evt-bench-2", "type": "payment.succeeded", "orderId": second, "amount": 100,
                          "currency": "EUR"}).encode()
        client.http.post("/webhooks/payments", headers={"Content-Type": "application/json",
                                                        "X-Signature": sign("local-webhook-secret", raw)}, body=raw)
        measure("POST /admin/orders/{id}/shipments", "post", f"/admin/orders/{second}/shipments",
                {"carrier": "DHL", "trackingNumber": "JD0146", "trackingUrl": "https://dhl.example/t/JD0146"},
                {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
        measure("POST /orders/{id}/returns", "post", f"/orders/{accepted['orderId']}/returns",
                {"lines": [{"productId": product["id"], "quantity": 1}], "reason": "bench"},
                {**ann, "Idempotency-Key": uuid.uuid4().hex})
        # A code read with the basket's products (one BatchGetItem), redeemed inside the checkout's transaction.
        client.http.post("/admin/promotions", headers={"Content-Type": "application/json", **ADMIN},
                         body=json.dumps({"code": "BENCH10", "percentOff": 10, "oncePerCustomer": True}))
        client.http.put(f"/basket/items/{product['id']}", headers={"Content-Type": "application/json", **ann},
                        body=json.dumps({"quantity": 1}))
        measure("PUT /basket/promotion", "put", "/basket/promotion", {"code": "BENCH10"}, ann)
        ship()
        measure("POST /basket/checkout (with a promotion)", "post", "/basket/checkout", {"shippingAddress": ADDRESS},
                {**ann, "Idempotency-Key": uuid.uuid4().hex})
        _stripe_paths(client, calls, measure, results, bus, ann, ADMIN, checkouts[2].data["orderId"],
                      checkouts[3].data["orderId"])
    for row in results.values():
        if row.get("minimum"):
            row["ratio"] = round(row["count"] / row["minimum"], 2)
    return results


def _stripe_paths(client, calls: list[str], measure, results: dict, bus, ann: dict, admin: dict, paid: str,
                  cancelled: str) -> None:
    """Stripe's paths against a localstripe process: each row's AWS calls, and its calls to Stripe."""
    import uuid
    from typing import Any
    from unittest import mock

    import stripe
    from stripe import _http_client

    from local.stripe import SECRET_KEY, WEBHOOK_SECRET, LocalStripe
    from tests.shop import eventbridge_body, sqs_event

    made: list[str] = []
    sent = _http_client.HTTPClient.request_with_retries

    def counted(self, method, url, *args, **kwargs):
        made.append(f"{method.upper()} {url.split('/v1/', 1)[-1].split('?')[0]}")
        return sent(self, method, url, *args, **kwargs)

    with LocalStripe() as local, mock.patch.object(_http_client.HTTPClient, "request_with_retries", counted):
        from tests.shop import stripe_keys_in_the_stages_secret

        stripe_keys_in_the_stages_secret()  # as the local stack puts them
        os.environ["STRIPE_API_BASE"] = local.url
        from chalicelib.core.settings import reset_settings

        reset_settings()

        def stripe_row(label: str, run) -> Any:
            made.clear()
            answer = run()
            results[label]["stripe_calls"] = list(made)
            results[label]["stripe_count"] = len(made)
            results[label]["stripe_minimum"] = STRIPE_MINIMUM[label]
            return answer

        client.http.post(f"/orders/{paid}/payment", headers={"Content-Type": "application/json", **ann})  # keys read
        stripe_row("POST /orders/{id}/payment", lambda: measure(
            "POST /orders/{id}/payment", "post", f"/orders/{cancelled}/payment", headers=ann))
        stripe_row("POST /orders/{id}/payment (again)", lambda: measure(
            "POST /orders/{id}/payment (again)", "post", f"/orders/{cancelled}/payment", headers=ann))
        first = json.loads(client.http.post(f"/orders/{paid}/payment", headers={
            "Content-Type": "application/json", **ann}).body)
        assert "paymentIntentId" in first, first
        api = stripe.StripeClient(SECRET_KEY, base_addresses={"api": local.url}).v1
        card = api.payment_methods.create(params={"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
        api.payment_intents.update(first["paymentIntentId"], params={"payment_method": card.id})
        api.payment_intents.confirm(first["paymentIntentId"])
        event = {"id": "evt_bench_paid", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {
            "id": first["paymentIntentId"], "object": "payment_intent", "amount": first["amount"],
            "amount_received": first["amount"], "currency": first["currency"].lower(), "status": "succeeded",
            "metadata": {"orderId": paid}}}}
        raw = json.dumps(event).encode()
        from chalicelib.payments.signature import sign

        def webhook() -> None:
            calls.clear()
            response = client.http.post("/webhooks/stripe", body=raw, headers={
                "Content-Type": "application/json", "Stripe-Signature": sign(WEBHOOK_SECRET, raw)})
            results["POST /webhooks/stripe (payment_intent.succeeded)"] = {
                "calls": list(calls), "count": len(calls), "status": response.status_code,
                "minimum": MINIMUM["POST /webhooks/stripe (payment_intent.succeeded)"]}

        stripe_row("POST /webhooks/stripe (payment_intent.succeeded)", webhook)
        refund = json.loads(client.http.post(f"/admin/orders/{paid}/refunds", body=json.dumps(
            {"amount": 10, "reason": "bench"}), headers={"Content-Type": "application/json", **admin,
                                                         "Idempotency-Key": uuid.uuid4().hex}).body)
        client.http.post(f"/orders/{cancelled}/cancel", headers={"Content-Type": "application/json", **ann})
        bus_events = bus.events
        for label, kind, key in (("payment_provider: RefundRequested", "RefundRequested", refund["id"]),
                                 ("payment_provider: OrderCancelled", "OrderCancelled", cancelled)):
            event_of = next(e for e in bus_events if e.type == kind and key in json.dumps(e.data))

            def run(event_of=event_of, label=label) -> None:
                calls.clear()
                client.lambda_.invoke("payment_provider", sqs_event(client, [eventbridge_body(event_of)],
                                                                    queue="shop-local-payments"))
                results[label] = {"calls": list(calls), "count": len(calls), "minimum": MINIMUM[label]}

            stripe_row(label, run)
        os.environ.pop("STRIPE_API_BASE", None)
        reset_settings()


# --- warm latency ---------------------------------------------------------------------------

BARE_APP = '''
import os
import boto3
from chalice import Chalice

app = Chalice(app_name="bare")
_ddb = []


def ddb():
    if not _ddb:
        _ddb.append(boto3.client("dynamodb"))
    return _ddb[0]


@app.route("/products/{product_id}")
def get_product(product_id):
    item = ddb().get_item(TableName=os.environ["TABLE_NAME"],
                          Key={"PK": {"S": "PRODUCT#" + product_id}, "SK": {"S": "PRODUCT"}}).get("Item")
    return {k: list(v.values())[0] for k, v in item.items()}


@app.route("/products")
def list_products():
    items = ddb().query(TableName=os.environ["TABLE_NAME"], IndexName="GSI2",
                        KeyConditionExpression="GSI2PK = :p", ExpressionAttributeValues={":p": {"S": "PRODUCTS"}},
                        Limit=20)["Items"]
    return {"items": [{k: list(v.values())[0] for k, v in i.items()} for i in items]}
'''


def warm_latency(requests: int = 300) -> dict:
    """Per-request time in process (as a warm Lambda) against a moto server, app vs bare Chalice."""
    from moto.server import ThreadedMotoServer

    from local.emulator import free_port

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _reset_emulator(f"http://127.0.0.1:{port}")
        os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        return _latency(requests)
    finally:
        server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)


def _latency(requests: int) -> dict:
    import types

    from chalice.test import Client

    from local.bootstrap import bootstrap

    stack = bootstrap("local", os.environ["AWS_ENDPOINT_URL"])
    os.environ.update({"TABLE_NAME": stack["table_name"], "EVENT_BUS_NAME": stack["event_bus_name"],
                       "USER_POOL_ID": stack["user_pool_id"], "USER_POOL_CLIENT_ID": stack["user_pool_client_id"],
                       "LOG_LEVEL": "INFO"})
    from chalicelib.core.aws import reset_clients
    from chalicelib.core.settings import reset_settings

    reset_settings()
    reset_clients()
    from app import app
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services

    product = Services().catalogue.create(ProductCreate(name="Lamp", category="bench", price=100, currency="EUR",
                                                        stock=5), actor="bench")
    bare = types.ModuleType("bare_app")
    exec(compile(BARE_APP, "bare_app.py", "exec"), bare.__dict__)
    routes = {"GET /products/{id}": f"/products/{product.id}", "GET /products": "/products"}
    results = {}
    for label, path in routes.items():
        timings = {}
        for name, application in (("bare", bare.app), ("app", app)):
            with Client(application, stage_name="local") as client:
                for _ in range(20):
                    client.http.get(path)
                samples = []
                for _ in range(requests):
                    start = time.perf_counter()
                    response = client.http.get(path)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.body
                timings[name] = statistics.median(samples)
        results[label] = {"bare_ms": round(timings["bare"], 2), "app_ms": round(timings["app"], 2),
                          "ratio": round(timings["app"] / timings["bare"], 2)}
    return results


def observability_overhead(iterations: int = 2000) -> dict:
    """What logging a line and emitting a metric add to a request."""
    import io
    from contextlib import redirect_stdout

    from chalicelib.core import metrics
    from chalicelib.core.logs import get_logger

    log = get_logger("bench")
    sink = io.StringIO()
    with redirect_stdout(sink):
        start = time.perf_counter()
        for i in range(iterations):
            log.info("request handled", extra={"route": "/bench", "i": i})
            metrics.count("BenchRequests")
            metrics.flush()
        elapsed = (time.perf_counter() - start) * 1000 / iterations
    return {"per_request_ms": round(elapsed, 3), "includes": "one JSON log line, one metric, one EMF flush"}


# --- IAM enforcement -----------------------------------------------------------------------

def iam_enforcement(requests: int = 200) -> dict:
    """What the local stack's IAM check adds: the same requests against the enforcing emulator,
    signed with the operator's keys (never checked) and with the API function's role (checked)."""
    import base64

    import boto3
    from chalice.test import Client

    from local import identities
    from local.bootstrap import bootstrap_stack
    from local.emulator import OPERATOR, Emulator

    def token(sub: str) -> str:
        part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")  # noqa: E731
        claims = {"sub": sub, "cognito:username": sub, "email": f"{sub}@example.com", "name": "Bench",
                  "token_use": "id"}
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"

    import warnings

    warnings.filterwarnings("ignore", message="CognitoUserPoolAuthorizer is not a supported in local mode")
    saved = dict(os.environ)
    with Emulator() as emulator:
        try:
            os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=emulator.url, AWS_ACCESS_KEY_ID=OPERATOR["aws_access_key_id"],
                              AWS_SECRET_ACCESS_KEY=OPERATOR["aws_secret_access_key"], LOG_LEVEL="WARNING")
            operator = boto3.session.Session(region_name="us-east-1", **OPERATOR)
            stack = bootstrap_stack("local", emulator.url, session=operator)
            summary = stack.summary()
            os.environ.update(TABLE_NAME=summary["table_name"], EVENT_BUS_NAME=summary["event_bus_name"],
                              USER_POOL_ID=summary["user_pool_id"], USER_POOL_CLIENT_ID=summary["user_pool_client_id"])
            identities.bind(identities.create_identities("local", stack, session=operator, endpoint_url=emulator.url))
            from chalicelib.core.aws import reset_clients
            from chalicelib.core.settings import reset_settings

            reset_settings()
            reset_clients()
            from app import app
            from chalicelib.catalogue.models import ProductCreate
            from chalicelib.composition import Services

            product = Services().catalogue.create(ProductCreate(name="Lamp", category="bench", price=100,
                                                                currency="EUR", stock=10_000), actor="bench")
            shopper = {"Authorization": token("bench-shopper"), "Content-Type": "application/json"}
            operations = {
                "GET /products/{id}": lambda c: c.http.get(f"/products/{product.id}"),
                "PUT /basket/items/{id}": lambda c: c.http.put(f"/basket/items/{product.id}", headers=shopper,
                                                               body=json.dumps({"quantity": 1})),
            }
            results = {}
            with Client(app, stage_name="local") as client:
                for label, operation in operations.items():
                    samples: dict[str, list[float]] = {"operator": [], "role": []}
                    for round_ in range(requests + 20):
                        for who in ("operator", "role"):  # interleaved: machine load hits both alike
                            start = time.perf_counter()
                            if who == "role":
                                with identities.running_as("api_handler"):
                                    response = operation(client)
                            else:
                                response = operation(client)
                            assert response.status_code == 200, response.body
                            if round_ >= 20:  # the first rounds warm both paths up
                                samples[who].append((time.perf_counter() - start) * 1000)
                    unchecked, checked = (statistics.median(samples[k]) for k in ("operator", "role"))
                    results[label] = {"unchecked_ms": round(unchecked, 2), "checked_ms": round(checked, 2),
                                      "ratio": round(checked / unchecked, 2),
                                      "added_ms": round(checked - unchecked, 2)}
            return results
        finally:
            identities.unbind()
            os.environ.clear()
            os.environ.update(saved)


# --- the local stack under load -----------------------------------------------------------------

def checkout_under_load(shoppers: int = 32, seconds: float = 40, rounds: int = 4, filler: int = 50_000) -> dict:
    """Checkout latency with `shoppers` customers shopping at once against the whole local stack (`python -m
    local.run`: the emulator, every function in its own process): each puts a product in the basket, checks
    out and pays, again and again. Two stacks run side by side, one new and one holding `filler` more items,
    shopped in turns (`rounds` each, `seconds` in all per stack after a warm-up), so a machine shared with
    other work loads both alike. The figures are each request's whole HTTP round trip as a shopper sees it."""
    with _BenchStack(shoppers) as new, _BenchStack(shoppers) as full:
        import boto3

        from local.emulator import OPERATOR

        operator = boto3.session.Session(region_name="us-east-1", **OPERATOR)
        filled = _fill(operator.client("dynamodb", endpoint_url=full.emulator_url), filler)
        # The machine is shared: how busy it was (1-minute load average, 2 cores) says how to read the figures.
        results: dict = {"shoppers": shoppers, "seconds": seconds, "filled_items": filled,
                         "load_average_before": round(os.getloadavg()[0], 1)}
        samples: dict = {"new_stack": _Samples(), "full_table": _Samples()}
        for stack in (new, full):  # warm-up: not counted
            _shopping(stack, seconds / rounds / 2, _Samples())
        for round_ in range(rounds):
            for stack, label in ((new, "new_stack"), (full, "full_table"))[::1 if round_ % 2 == 0 else -1]:
                _shopping(stack, seconds / rounds, samples[label])
        for label, taken in samples.items():
            results[label] = taken.summary(seconds)
        results["load_average_after"] = round(os.getloadavg()[0], 1)
        results["p95_ratio"] = round(results["full_table"]["checkout"]["p95_ms"]
                                     / results["new_stack"]["checkout"]["p95_ms"], 2)
        results["server_errors"] = len(new.shop.server_errors) + len(full.shop.server_errors)
        return results


class _BenchStack:
    """`python -m local.run` in a folder of its own (new, throttling off: the load is measured, not the stage's
    limits), with a logged-in staff member, `shoppers` registered customers and 24 products stocked for ever."""

    def __init__(self, shoppers: int):
        from local.emulator import free_port

        self.shoppers = shoppers
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="bench-stack-"))
        self.port, emulator_port = free_port(), free_port()
        self.emulator_url = f"http://127.0.0.1:{emulator_port}"
        self.environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.environment.update(PORT=str(self.port), MOTO_PORT=str(emulator_port), LOCAL_STACK_DIR=str(self.folder),
                                FRESH="1", LOCAL_THROTTLING="off")

    def __enter__(self) -> Self:
        from local.seed import logins
        from tools.load import Shop

        self._log = open(self.folder / "run.log", "w")  # closed on leaving
        self.process = subprocess.Popen([PY, "-m", "local.run"], cwd=ROOT, env=self.environment, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.shop = Shop(f"http://127.0.0.1:{self.port}")
        try:
            deadline = time.monotonic() + 180
            while "Ctrl-C stops everything" not in (self.folder / "run.log").read_text():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the local stack did not start:\n" +
                                       (self.folder / "run.log").read_text()[-3000:])
                time.sleep(0.5)
            email, password, _ = logins()["admin"]
            staff = self.shop.login(email, password)
            self.buyers = self.shop.shoppers(self.shoppers)
            self.products = [self.shop.product(staff, stock=10**6, price=1000 + i) for i in range(24)]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(60)
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Samples:
    def __init__(self) -> None:
        import threading

        self.taken: dict[str, list[float]] = {"basket": [], "checkout": [], "payment": []}
        self.refused = 0
        self.lock = threading.Lock()

    def summary(self, seconds: float) -> dict:
        from tools.load import latency

        result = {label: latency(taken) for label, taken in self.taken.items()}
        result["checkouts_per_second"] = round(len(self.taken["checkout"]) / seconds, 1)
        result["checkouts_refused"] = self.refused
        return result


def _shopping(stack: _BenchStack, seconds: float, samples: _Samples) -> None:
    """Every buyer in a loop for `seconds`: basket, checkout, payment; each one's latency into `samples`."""
    import random
    import threading

    shop, stop_at = stack.shop, time.monotonic() + seconds

    def timed(label: str, call, *args):
        began = time.perf_counter()
        status, answer = call(*args)
        with samples.lock:
            samples.taken[label].append(time.perf_counter() - began)
        return status, answer

    def shopper(headers: dict) -> None:
        chooser = random.Random(headers["Authorization"])
        while time.monotonic() < stop_at:
            product = chooser.choice(stack.products)
            timed("basket", shop.call, "PUT", f"/basket/items/{product['id']}", {"quantity": 1}, headers)
            status, accepted = timed("checkout", shop.checkout, headers)
            if status != 202:
                with samples.lock:
                    samples.refused += 1
                continue
            timed("payment", shop.pay, accepted["orderId"], product["variants"][0]["prices"][0]["amount"])

    threads = [threading.Thread(target=shopper, args=(headers,)) for headers in stack.buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _fill(ddb, count: int) -> int:
    """`count` more products in the table, as the catalogue stores them (their listings' keys with them)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.catalogue.models import Product
    from chalicelib.catalogue.repository import product_item

    now = "2026-12-07T00:00:00.000Z"

    def batch(first: int) -> None:
        requests = [{"PutRequest": {"Item": product_item(Product(
            id=f"filler{i:07}", name=f"Filler {i}", description="A product the benchmark adds.",
            category=f"filler-{i % 40}", price=990, currency="EUR", stock=10, status="ACTIVE", version=1,
            created_at=now, updated_at=now))}} for i in range(first, min(first + 25, count))]
        while requests:
            left = ddb.batch_write_item(RequestItems={"shop-local": requests}).get("UnprocessedItems", {})
            requests = left.get("shop-local", [])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, count, 25)))
    return count


# --- package size --------------------------------------------------------------------------

def package_size() -> dict:
    from tools.package import package

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-pkg-"))
    try:
        ours = package("prod", work / "app")
        app_zip = ours.parent / "deployment.zip"
        bare_project = work / "bare"
        (bare_project / ".chalice").mkdir(parents=True)
        (bare_project / "app.py").write_text("from chalice import Chalice\napp = Chalice(app_name='bare')\n\n\n"
                                             "@app.route('/')\ndef index():\n    return {'hello': 'world'}\n")
        shutil.copy(ROOT / "requirements.txt", bare_project / "requirements.txt")
        (bare_project / ".chalice" / "config.json").write_text(json.dumps(
            {"version": "2.0", "app_name": "bare", "stages": {"dev": {"api_gateway_stage": "api"}}}))
        subprocess.run([str(pathlib.Path(PY).parent / "chalice"), "package", str(work / "bare-out")],
                       cwd=bare_project, check=True, capture_output=True,
                       env=dict(os.environ, AWS_DEFAULT_REGION="us-east-1"))
        from tools.package import slim

        bare_zip = work / "bare-slim.zip"  # the same runtime-provided packages left out as in ours
        slim(work / "bare-out" / "deployment.zip", bare_zip)

        def sizes(path: pathlib.Path) -> tuple[int, int]:
            with zipfile.ZipFile(path) as archive:
                return path.stat().st_size, sum(i.file_size for i in archive.infolist())

        (az, au), (bz, bu) = sizes(app_zip), sizes(bare_zip)
        with zipfile.ZipFile(app_zip) as archive:
            top: dict[str, int] = {}
            for info in archive.infolist():
                head = info.filename.split("/")[0]
                top[head] = top.get(head, 0) + info.file_size
        largest = sorted(top.items(), key=lambda kv: -kv[1])[:6]
        return {"app_zip_bytes": az, "bare_zip_bytes": bz, "zip_ratio": round(az / bz, 3),
                "app_unpacked_bytes": au, "bare_unpacked_bytes": bu, "unpacked_ratio": round(au / bu, 3),
                "largest_unpacked": {name: size for name, size in largest}}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _forget_caches() -> None:
    """Between sections: each starts its own emulator, so no cached client, setting or key may outlive one."""
    from chalicelib.core.aws import renew_session
    from chalicelib.core.dynamo import cursor_key
    from chalicelib.core.settings import reset_settings
    from chalicelib.users import account_status

    reset_settings()
    renew_session()  # a session keeps the credentials it was made with: each section has its own
    cursor_key.cache_clear()
    account_status.forget()


# Sections `make bench BENCH=<name>` runs alone (their figures merged into dist/bench.json).
ALONE = {"cold_import": cold_import, "cold_request": cold_request, "tracing_cost": tracing_cost,
         "checkout_under_load": checkout_under_load, "aws_calls": aws_calls}


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    out = ROOT / "dist" / "bench.json"
    names = argv if argv is not None else sys.argv[1:]
    if names:
        unknown = [name for name in names if name not in ALONE]
        if unknown:
            raise SystemExit(f"no section {unknown}; these run alone: {', '.join(ALONE)}")
        report = json.loads(out.read_text()) if out.exists() else {}
        for name in names:
            report[name] = ALONE[name]()
            print(name, json.dumps(report[name], indent=1), flush=True)
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
        return
    report = {"cold_import": cold_import()}
    print("cold import   ", report["cold_import"], flush=True)
    report["cold_request"] = cold_request()
    print("cold request  ", report["cold_request"], flush=True)
    _forget_caches()
    report["tracing_cost"] = tracing_cost()
    print("tracing cost  ", report["tracing_cost"], flush=True)
    _forget_caches()
    report["aws_calls"] = aws_calls()
    for label, row in report["aws_calls"].items():
        print(f"aws calls      {label:32} {row['count']:3} (minimum {row.get('minimum')}, ratio {row.get('ratio')})")
    _forget_caches()
    report["warm_latency"] = warm_latency()
    for label, row in report["warm_latency"].items():
        print(f"warm latency   {label:32} app {row['app_ms']} ms, bare {row['bare_ms']} ms, ratio {row['ratio']}")
    _forget_caches()
    report["iam_enforcement"] = iam_enforcement()
    for label, row in report["iam_enforcement"].items():
        print(f"iam enforced   {label:32} role {row['checked_ms']} ms, operator {row['unchecked_ms']} ms, "
              f"ratio {row['ratio']} (+{row['added_ms']} ms)")
    report["checkout_under_load"] = checkout_under_load()
    print("checkout load ", json.dumps(report["checkout_under_load"]), flush=True)
    report["observability"] = observability_overhead()
    print("observability ", report["observability"])
    from tools.bench_memory import describe, peak_memory

    _forget_caches()
    report["peak_memory"] = peak_memory()  # each handler in a fresh process: what lambda_memory_size is chosen from
    print("\n".join(describe(report["peak_memory"])), flush=True)
    report["package"] = package_size()
    print("package       ", {k: v for k, v in report["package"].items() if k != "largest_unpacked"})
    print("               largest:", report["package"]["largest_unpacked"])
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
