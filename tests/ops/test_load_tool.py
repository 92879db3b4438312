"""make load's own plumbing: it kills only the function process a ready file names; its verdict (an oversell, an
undersell, a 5xx fail the run) and what it asks again (only an answer with Retry-After)."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import time

from tools.load import _runs_function


def test_a_function_process_is_recognised_however_narrow_the_terminal(monkeypatch):
    """ps cuts a command line to $COLUMNS: under a long virtualenv path the function's name fell off the end,
    and make load refused to kill a running function as 'not create_orders's'."""
    monkeypatch.setenv("COLUMNS", "20")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "local.function",
                                "create_orders"])
    try:
        time.sleep(0.3)
        assert _runs_function(process.pid, "create_orders")
        assert not _runs_function(process.pid, "api_handler")
    finally:
        process.kill()
        process.wait()
    assert not _runs_function(process.pid, "create_orders")  # gone: a ready file outliving it names no one


# --- make load's verdict, against a stand-in shop on 127.0.0.1 that keeps or breaks its promises on purpose ------

class _Shop:
    """Just enough of the API for a load run: one product, shoppers, baskets, checkouts and orders. `fault`
    breaks one promise: "oversell" accepts every checkout, "5xx" answers one checkout 500, "busy" answers each
    shopper's first checkout 503 with Retry-After, "throttled" answers every checkout 429 without it."""

    def __init__(self, fault: str | None = None):
        import threading

        self.fault, self.lock = fault, threading.Lock()
        self.stock, self.orders, self.keys = 0, {}, collections.defaultdict(list)

    def answer(self, method: str, path: str, who: str, headers) -> tuple[int, dict | None, dict]:
        if (method, path) == ("POST", "/products"):
            return 201, {"id": "hot"}, {}
        if (method, path) == ("GET", "/products/hot"):
            return 200, {"variants": [{"stock": self.stock}]}, {}
        if (method, path) == ("GET", "/basket/shipping-methods"):
            return 200, {"items": [{"id": "post"}]}, {}
        if path.startswith("/orders/"):
            order = self.orders.get(path.rsplit("/", 1)[1])
            return (200, order, {}) if order and order["userId"] == who else (404, None, {})
        if path.startswith("/orders"):
            return 200, {"items": [o for o in self.orders.values() if o["userId"] == who], "nextCursor": None}, {}
        if (method, path) == ("POST", "/basket/checkout"):
            with self.lock:
                self.keys[who].append(headers["Idempotency-Key"])
                tries = len(self.keys[who])
                if self.fault == "throttled":
                    return 429, {"error": {"code": "THROTTLED"}}, {}
                if self.fault == "busy" and tries == 1:
                    return 503, {"error": {"code": "SERVICE_UNAVAILABLE"}}, {"Retry-After": "0"}
                if self.fault == "5xx" and len(self.keys) == 1:
                    return 500, {"error": {"code": "INTERNAL"}}, {}
                if self.stock < 1 and self.fault != "oversell":
                    return 409, {"error": {"code": "OUT_OF_STOCK"}}, {}
                self.stock -= 1
                order_id = f"o{len(self.orders)}"
                self.orders[order_id] = {"id": order_id, "userId": who, "items": [{"productId": "hot"}]}
                return 202, {"orderId": order_id}, {}
        return (201 if method == "POST" else 200), {}, {}

    def __enter__(self):
        import http.server
        import threading

        shop = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self, method: str) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                if (method, self.path) == ("POST", "/products"):
                    shop.stock = body["stock"]
                status, answer, extra = shop.answer(method, self.path.split("?")[0],
                                                    self.headers.get("Authorization"), self.headers)
                payload = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        for verb in ("GET", "POST", "PUT", "DELETE"):
            setattr(Handler, f"do_{verb}", lambda self, verb=verb: self.handle_one(verb))
        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # every shopper connects at once (the default 5 drops connections for 1 s)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _load(shop: _Shop, tmp_path, shoppers: int = 12, stock: int = 5) -> tuple[int, dict, list[str]]:
    from tools.load import Shop, race

    said: list[str] = []
    out = tmp_path / "load.json"
    client = Shop(f"http://127.0.0.1:{shop.server.server_address[1]}")
    client.login = lambda email, password: {"Authorization": email}  # each shopper known by its address (no Cognito)
    code = race(client, shoppers, stock, out, staff={"Authorization": "staff"}, say=said.append,
                environment={})
    return code, json.loads(out.read_text()), said


def test_a_run_that_sells_exactly_the_stock_passes_and_writes_exactly_its_fields(tmp_path):
    with _Shop() as shop:
        code, numbers, said = _load(shop, tmp_path)
    assert code == 0, said
    assert list(numbers) == ["shoppers", "stock", "accepted", "refused", "errors_5xx", "errors_other", "p50_ms",
                             "p95_ms", "p99_ms", "goodput_per_s"]
    assert {k: numbers[k] for k in ("shoppers", "stock", "accepted", "refused", "errors_5xx", "errors_other")} == \
        {"shoppers": 12, "stock": 5, "accepted": 5, "refused": 7, "errors_5xx": 0, "errors_other": 0}
    assert 0 < numbers["p50_ms"] <= numbers["p95_ms"] <= numbers["p99_ms"] and numbers["goodput_per_s"] > 0


def test_an_oversell_fails_the_run(tmp_path):
    with _Shop("oversell") as shop:
        code, numbers, said = _load(shop, tmp_path)
    assert code == 1 and numbers["accepted"] == 12
    assert any("oversold: 12 checkouts accepted for 5 units" in line for line in said), said
    assert any("the stock reads -7" in line for line in said), said


def test_a_5xx_fails_the_run_and_an_undersell_with_it(tmp_path):
    with _Shop("5xx") as shop:
        code, numbers, said = _load(shop, tmp_path, shoppers=5, stock=5)
    assert code == 1 and (numbers["accepted"], numbers["errors_5xx"]) == (4, 1)
    assert any("undersold" in line for line in said) and any("answered 5xx" in line for line in said), said


def test_only_an_answer_that_says_when_is_asked_again_and_with_the_same_idempotency_key(tmp_path):
    with _Shop("busy") as shop:
        code, numbers, said = _load(shop, tmp_path)
        keys = dict(shop.keys)
    assert code == 0 and numbers["accepted"] == 5 and numbers["errors_5xx"] == 0, said
    assert all(len(tried) == 2 and len(set(tried)) == 1 for tried in keys.values()), keys
    with _Shop("throttled") as shop:  # a 429 without Retry-After: the answer, not asked again
        code, numbers, said = _load(shop, tmp_path)
        keys = dict(shop.keys)
    assert code == 1 and (numbers["accepted"], numbers["errors_other"]) == (0, 12)
    assert all(len(tried) == 1 for tried in keys.values()), keys
