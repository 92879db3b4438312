"""Under `make run` (python -m local.run, throttling on), as in AWS: one client hammering the sign-in route, at
the customer's account and at others, is stopped (the web ACL's budget per address, the app's wait per
account and address) while the real customer, from another address, signs in."""
from __future__ import annotations

import http.client
import json

import pytest

CUSTOMER = ("attack-customer@example.com", "Customer123!attack")


def _login(base: str, source: str, email: str, password: str) -> tuple[int, dict]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15, source_address=(source, 0))
    try:
        conn.request("POST", "/auth/login", body=json.dumps({"email": email, "password": password}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from tests.stack import local_run

    with local_run(tmp_path_factory.mktemp("attack") / "run.log", LOCAL_CUSTOMER_EMAIL=CUSTOMER[0],
                   LOCAL_CUSTOMER_PASSWORD=CUSTOMER[1]) as url:
        yield url


def test_a_real_customer_signs_in_while_another_client_hammers_the_same_route_locally_too(base):
    attacker = "127.0.0.2"
    answers = [_login(base, attacker, email, "Wrong1password") for email in
               [CUSTOMER[0]] * 30 + [f"someone{n}@example.com" for n in range(90)]]
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {401, 429} and statuses[:3] == [401] * 3
    waits = [body for status, body in answers[:30] if status == 429]
    assert waits and all(body["error"]["code"] == "TOO_MANY_ATTEMPTS" for body in waits)  # the app's wait
    stopped = answers[-1]
    assert stopped[0] == 429 and stopped[1]["requestId"] is None  # the web ACL's answer: it never reached the API
    status, tokens = _login(base, "127.0.0.3", *CUSTOMER)
    assert status == 200 and "idToken" in tokens
