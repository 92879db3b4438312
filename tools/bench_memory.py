"""Peak memory of each Lambda handler, the measurement behind each function's `lambda_memory_size`.

Each handler runs in a fresh process, as in a new Lambda container: it imports the handler module
with the stage's settings, answers its workload through the same entry point Lambda calls, and
reports its peak resident set (`ru_maxrss`). AWS is a moto server in the bench's own process, so
the emulator's memory is not counted; the workloads (checkouts, the events they raise) are made
there first through the app itself. Part of `make bench`; alone: `python -m tools.bench_memory`.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = sys.executable
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
FUNCTIONS = ("api_handler", "create_orders", "record_audit", "notify", "housekeeping", "erase_users",
             "payment_provider")

# The child: import the handler module, run the workload, report peak RSS (KiB) and what import alone took.
# On Linux a process's ru_maxrss keeps the high-water mark of the process it was forked from across exec
# (here: the bench, emulator and all), so the child reads its own memory's high-water mark, VmHWM, where
# /proc has it; ru_maxrss elsewhere (macOS counts it in bytes).
_CHILD = """
import json, resource, sys, types

def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss // 1024 if sys.platform == "darwin" else maxrss

workload = json.load(open(sys.argv[1]))
import app
imported = peak_kib()
name = workload["function"]
if name == "api_handler":
    handler = app.app
else:
    (source,) = [s for s in app.app.event_sources if s.name == name]
    handler = getattr(app, source.handler_string.split(".", 1)[1])
context = types.SimpleNamespace(aws_request_id="bench", function_name="shop-bench-" + name, memory_limit_in_mb=512,
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench",
                                get_remaining_time_in_millis=lambda: 30_000)
statuses = []
for event in workload["events"]:
    answer = handler(event, context)
    statuses.append(answer.get("statusCode", answer.get("batchItemFailures")) if isinstance(answer, dict) else None)
peak = peak_kib()
print(json.dumps({"peak_kib": peak, "import_kib": imported, "statuses": statuses}))
"""


def _gateway_event(method: str, path: str, resource: str, params: dict | None, body, claims: dict | None,
                   query: dict | None = None) -> dict:
    """A REST API proxy event as API Gateway sends it, with the claims its Cognito authorizer verified."""
    context = {"resourcePath": resource, "httpMethod": method, "stage": "api", "requestId": uuid.uuid4().hex,
               "identity": {"sourceIp": "127.0.0.1"}}
    if claims:
        context["authorizer"] = {"claims": claims}
    headers = {"Host": "bench", "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None, "pathParameters": params, "stageVariables": None,
            "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
            "requestContext": context}


def _workloads(client, bus, product: dict) -> dict[str, list[dict]]:
    """Each function's events, made by driving the app in this process against the emulator."""
    from chalicelib.core.events import envelope
    from chalicelib.notifications import NOTIFIED_EVENTS
    from chalicelib.users.events import UserErased
    from tests.fakes import auth
    from tests.shop import ADDRESS, eventbridge_body, ship_basket, sqs_event

    checkouts = []
    for number in range(20):  # one buyer each: a customer holds only so many unpaid orders
        json_headers = {"Content-Type": "application/json", **auth(f"bench-memory-{number}")}
        client.http.put(f"/basket/items/{product['id']}", headers=json_headers, body=json.dumps({"quantity": 1}))
        ship_basket(client, json_headers)  # to the address, by the standard method: what a checkout needs
        client.http.post("/basket/checkout", headers={**json_headers, "Idempotency-Key": uuid.uuid4().hex},
                         body=json.dumps({"shippingAddress": ADDRESS}))
        checkouts.append(bus.of_type("CheckoutRequested")[-1])
    # The first ten become orders here (so the other handlers have events and data); the child makes the rest.
    client.lambda_.invoke("create_orders", sqs_event(client, [eventbridge_body(e) for e in checkouts[:10]]))
    raised = [e for e in bus.events if e.type != "CheckoutRequested"][:10]
    notified = [e for e in bus.events if e.type in NOTIFIED_EVENTS][:5]
    claims = {"sub": "bench-api", "cognito:username": "bench-api", "email": "bench-api@example.com",
              "name": "Bench", "token_use": "id"}
    admin = {**claims, "sub": "admin-1", "cognito:username": "admin-1", "cognito:groups": "admin"}
    pid = {"product_id": product["id"]}
    api = [_gateway_event("GET", "/products", "/products", None, None, None),
           _gateway_event("GET", f"/products/{product['id']}", "/products/{product_id}", pid, None, None),
           _gateway_event("PUT", f"/basket/items/{product['id']}", "/basket/items/{variant_id}",
                          {"variant_id": product["id"]}, {"quantity": 1}, claims),
           _gateway_event("GET", "/basket", "/basket", None, None, claims),
           _gateway_event("POST", "/basket/checkout", "/basket/checkout", None, {"shippingAddress": ADDRESS}, claims),
           _gateway_event("GET", "/orders", "/orders", None, None, claims),
           _gateway_event("GET", "/admin/orders", "/admin/orders", None, None, admin, {"status": "PENDING"}),
           _gateway_event("GET", "/openapi.json", "/openapi.json", None, None, None)]
    # payment_provider: an order's PaymentIntent made at the local Stripe, then the order cancelled: the child
    # cancels the intent through the Stripe library (its import counted), as the function does.
    buyer = {"Content-Type": "application/json", **auth("bench-memory-1")}
    paying = checkouts[1].data["orderId"]
    started = client.http.post(f"/orders/{paying}/payment", headers=buyer)
    assert started.status_code == 200, started.body
    client.http.post(f"/orders/{paying}/cancel", headers=buyer)
    cancelled = bus.of_type("OrderCancelled")[-1:]
    scheduled = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=[])
    return {
        "api_handler": api,
        "create_orders": [sqs_event(client, [eventbridge_body(e) for e in checkouts[10:]])],
        "record_audit": [sqs_event(client, [eventbridge_body(e) for e in raised], queue="shop-local-audit")],
        "notify": [sqs_event(client, [eventbridge_body(e) for e in notified], queue="shop-local-notify")],
        "housekeeping": [scheduled],
        "payment_provider": [sqs_event(client, [eventbridge_body(e) for e in cancelled],
                                       queue="shop-local-payments")],
        "erase_users": [sqs_event(client, [eventbridge_body(envelope(UserErased(user_id="bench-memory-0"),
                                                                     actor="bench-memory-0"))],
                                  queue="shop-local-erasures")],
    }


def _stage_environment(stage: str, function: str | None = None) -> dict[str, str]:
    """The stage's settings, and those given to `function` alone (Stripe's secret: the API and payment_provider)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    own = config["stages"][stage].get("lambda_functions", {}).get(function or "", {}).get("environment_variables", {})
    return {**config.get("environment_variables", {}), **config["stages"][stage]["environment_variables"], **own}


def peak_memory(runs: int = 3) -> dict:
    """Per function: the highest peak RSS (MiB) over `runs` fresh processes, and what import alone took."""
    from chalice.test import Client
    from moto.server import ThreadedMotoServer

    from local.emulator import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        from tools.bench import _reset_emulator

        _reset_emulator(endpoint)  # earlier sections of `make bench` leave their stacks in this process's moto
        os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint)
        from local.bootstrap import bootstrap

        stack = bootstrap("local", endpoint)
        outputs = {"TABLE_NAME": stack["table_name"], "EVENT_BUS_NAME": stack["event_bus_name"],
                   "USER_POOL_ID": stack["user_pool_id"], "USER_POOL_CLIENT_ID": stack["user_pool_client_id"]}
        os.environ.update(outputs)
        sys.path.insert(0, str(ROOT))
        from app import app
        from chalicelib.core.aws import reset_clients
        from chalicelib.core.settings import reset_settings
        from local.stripe import LocalStripe
        from tests.fakes import ADMIN
        from tests.shop import published_through, stripe_keys_in_the_stages_secret

        stripe = LocalStripe().start()
        stripe_keys_in_the_stages_secret()  # in the emulator (AWS_ENDPOINT_URL), as the local stack puts them
        os.environ["STRIPE_API_BASE"] = stripe.url
        reset_settings()
        reset_clients()
        with published_through() as bus, Client(app, stage_name="local") as client:
            product = json.loads(client.http.post(
                "/products", headers={"Content-Type": "application/json", **ADMIN},
                body=json.dumps({"name": "Memory", "category": "bench", "price": 100, "currency": "EUR",
                                 "stock": 1000})).body)
            with contextlib.redirect_stdout(io.StringIO()):  # the app's own log lines
                workloads = _workloads(client, bus, product)
        # The local stage's resources with prod's tracing: what a prod container holds.
        env = {"PATH": os.environ.get("PATH", ""), **AWS_ENV, **_stage_environment("local"), **outputs,
               "TRACING": _stage_environment("prod").get("TRACING", "false"), "AWS_ENDPOINT_URL": endpoint,
               "LOG_LEVEL": "WARNING", "STRIPE_API_BASE": stripe.url}
        report = {}
        for function in FUNCTIONS:
            spec = work / f"{function}.json"
            spec.write_text(json.dumps({"function": function, "events": workloads[function]}))
            peaks, imports, statuses = [], [], []
            for _ in range(runs):
                out = subprocess.run([PY, "-c", _CHILD, str(spec)], cwd=ROOT, capture_output=True, text=True,
                                     check=True, env={**env, **_stage_environment("local", function)})
                measured = json.loads(out.stdout.strip().splitlines()[-1])
                peaks.append(measured["peak_kib"] / 1024)
                imports.append(measured["import_kib"] / 1024)
                statuses = measured["statuses"]
            row = {"peak_rss_mib": round(max(peaks), 1), "import_rss_mib": round(max(imports), 1),
                   "invocations": len(workloads[function]), "configured_mib": configured_memory(function)}
            if function in ("api_handler", "payment_provider"):
                row["statuses"] = statuses  # a queue's: the messages it would have retried (none)
            report[function] = row
        return report
    finally:
        if "stripe" in locals():
            stripe.stop()
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
        for path in work.iterdir():
            path.unlink()
        work.rmdir()


def configured_memory(function: str, stage: str = "prod") -> int:
    """The memory `.chalice/config.json` gives `function` on `stage` (its own, else the stage's, else the app's)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_config = config["stages"][stage]
    own = stage_config.get("lambda_functions", {}).get(function, {}).get("lambda_memory_size")
    if own:
        return own
    return stage_config.get("lambda_memory_size", config.get("lambda_memory_size", 128))


def describe(report: dict) -> list[str]:
    return [f"peak memory    {function:16} {row['peak_rss_mib']:6} MiB (import {row['import_rss_mib']} MiB), "
            f"configured {row['configured_mib']} MB" + (f", statuses {row['statuses']}" if "statuses" in row else "")
            for function, row in report.items()]


def main() -> None:
    print("\n".join(describe(peak_memory())))


if __name__ == "__main__":
    main()
