"""A local stand-in for the generic payment provider's refunds (`make run PAYMENT_PROVIDER=generic`, with
`LOCAL_AUTO_CONFIRM_REFUNDS`, on by default).

In AWS the provider pays a refund back and confirms it through the signed payment webhook. Locally,
nobody would, and every refund would stay REQUESTED. This stand-in listens to the shop's bus as a rule
does (a local rule on `RefundRequested` feeding a local queue, as the worker's bus deliveries do) and,
for each refund asked for, posts a correctly signed `refund.succeeded` to the local API, so the flow
runs end to end over HTTP. It is plumbing of the local stack, never deployed: it runs with the
emulator's operator keys, like the worker's other plumbing.
"""
from __future__ import annotations

import json
import threading
import traceback
import urllib.error
import urllib.request
from typing import Any, Callable

from local.worker import _rule_queue

PATTERN = {"source": ["shop"], "detail-type": ["RefundRequested"]}
DEFAULT_SECRET = "local-webhook-secret"  # the documented local default (PAYMENT_WEBHOOK_SECRET overrides it)


def enabled(environ: dict[str, str]) -> bool:
    """Only for the generic provider: with Stripe (the default) the payment_provider function pays refunds back
    through the local Stripe, which a stand-in confirming them as well would race."""
    return (environ.get("PAYMENT_PROVIDER", "stripe").strip().lower() == "generic"
            and environ.get("LOCAL_AUTO_CONFIRM_REFUNDS", "off").strip().lower() in ("1", "on", "true", "yes"))


def confirmation(detail: dict[str, Any]) -> dict[str, Any]:
    """The provider's webhook body confirming the refund a RefundRequested event asks for."""
    data = detail["data"]
    return {"id": f"evt_local_refund_{data['refundId']}", "type": "refund.succeeded", "orderId": data["orderId"],
            "refundId": data["refundId"], "amount": data["amount"], "currency": data["currency"]}


def post_webhook(api_url: str, secret: str, body: dict[str, Any], timeout: float = 10) -> int:
    """POST a signed provider event to the API's webhook; its HTTP status (0 when unreachable)."""
    from chalicelib.payments.signature import sign
    from local.emulator import local_opener

    raw = json.dumps(body).encode()
    request = urllib.request.Request(f"{api_url}/webhooks/payments", data=raw, method="POST", headers={
        "Content-Type": "application/json", "X-Signature": sign(secret, raw)})
    try:
        with local_opener().open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class RefundProvider:
    """Confirms every refund the shop asks for, a moment later, through the webhook."""

    def __init__(self, *, sqs: Any, events: Any, bus_name: str, api_url: str, secret: str,
                 prefix: str = "shop-local-provider", send: Callable[[str, str, dict], int] = post_webhook):
        self.sqs, self.api_url, self.secret, self.send = sqs, api_url, secret, send
        self.queue_url = _rule_queue(sqs, events, bus_name, f"{prefix}-refunds", PATTERN)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Confirm the refunds waiting; a message is deleted only once the API acknowledged it (2xx)."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            body = confirmation(json.loads(message["Body"])["detail"])
            status = self.send(self.api_url, self.secret, body)
            if 200 <= status < 300:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:  # the API is busy or throttling: the message comes back after its visibility timeout
                print(f"[provider] refund {body['refundId']} not confirmed yet ({status}); retrying", flush=True)
        return len(messages)

    def start(self) -> "RefundProvider":
        self._thread = threading.Thread(target=self._poll, name="refund-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the emulator going away at shutdown, a transient error
                if not self._stop.is_set():
                    print(f"[provider] polling failed; retrying\n{traceback.format_exc(limit=1)}", flush=True)
                if self._stop.wait(1):
                    return
