"""`make run`: the whole shop on this machine, no AWS account needed.

Starts the emulator (IAM enforced), creates the stack's resources from the merge template and
a role per function from its policy file, seeds demo data, then runs every function of the
app in its own process under its own role: the API (tokens verified) on PORT, and a worker
per event handler. Ctrl-C or SIGTERM stops everything it started; so does any function
process dying. A call a function's policy does not allow is printed as `[iam] AccessDenied ...`.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE = "local"
STARTUP_SECONDS = 60


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    state = ROOT / ".local-stack"
    state.mkdir(exist_ok=True)

    from local.emulator import OPERATOR, REGION, Emulator

    emulator = Emulator(int(os.environ["MOTO_PORT"]) if os.environ.get("MOTO_PORT") else None,
                        log_path=str(state / "emulator.log"),
                        on_denial=lambda line: print(f"[iam] {line}", flush=True)).start()
    stopping = threading.Event()
    children: dict[str, subprocess.Popen] = {}
    provider = None

    def stop(*_args) -> None:
        if not stopping.is_set():
            stopping.set()
            print("\nStopping…", flush=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        os.environ.update({"AWS_ENDPOINT_URL": emulator.url, "AWS_ACCESS_KEY_ID": OPERATOR["aws_access_key_id"],
                           "AWS_SECRET_ACCESS_KEY": OPERATOR["aws_secret_access_key"], "AWS_DEFAULT_REGION": REGION,
                           "AWS_REGION": REGION, "STAGE": STAGE})
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)  # real credentials must never mix with the emulator's
        import boto3

        from local.bootstrap import bootstrap_stack
        from local.identities import create_identities

        operator = boto3.session.Session(region_name=REGION, **OPERATOR)
        stack = bootstrap_stack(STAGE, emulator.url, session=operator)
        summary = stack.summary()
        identities = create_identities(STAGE, stack, session=operator, endpoint_url=emulator.url, region=REGION)
        stack_environment = {"TABLE_NAME": summary["table_name"], "EVENT_BUS_NAME": summary["event_bus_name"],
                             "USER_POOL_ID": summary["user_pool_id"],
                             "USER_POOL_CLIENT_ID": summary["user_pool_client_id"]}
        os.environ.update(stack_environment)
        if stopping.is_set():
            return 0

        from local.seed import seed_catalogue, seed_users

        products = seed_catalogue()
        accounts = seed_users(operator.client("cognito-idp", endpoint_url=emulator.url), summary["user_pool_id"])

        for function, identity in identities.items():
            ready = state / f"{function}.ready"
            ready.unlink(missing_ok=True)
            environment = {**os.environ, **identity.environment(), "PORT": str(port),
                           "LOCAL_READY_FILE": str(ready)}
            children[function] = subprocess.Popen([sys.executable, "-m", "local.function", function], cwd=ROOT,
                                                  env=environment, stdin=subprocess.DEVNULL, start_new_session=True)
        if not _all_ready(children, state, port, stopping):
            return 1
        from local import refund_provider

        if refund_provider.enabled(os.environ):  # the payment provider's part: confirm each refund asked for
            provider = refund_provider.RefundProvider(
                sqs=operator.client("sqs", endpoint_url=emulator.url),
                events=operator.client("events", endpoint_url=emulator.url),
                bus_name=summary["event_bus_name"], api_url=f"http://127.0.0.1:{port}",
                secret=os.environ.get("PAYMENT_WEBHOOK_SECRET") or refund_provider.DEFAULT_SECRET).start()
        _banner(port, emulator.url, products, accounts, sorted(children), refunds_confirmed=provider is not None)
        while not stopping.wait(0.5):
            for function, child in children.items():
                if child.poll() is not None:
                    print(f"[run] the {function} process exited ({child.returncode}); stopping everything",
                          flush=True)
                    stopping.set()
                    return 1
        return 0
    finally:
        if provider is not None:
            provider.stop()
        _stop_all(children)
        emulator.stop()
        print("Stopped.", flush=True)


def _all_ready(children: dict[str, subprocess.Popen], state: pathlib.Path, port: int,
               stopping: threading.Event) -> bool:
    """Every function process has started its server or its deliveries, and the API answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        for function, child in children.items():
            if child.poll() is not None:
                print(f"[run] the {function} process failed to start ({child.returncode})", flush=True)
                return False
        if all((state / f"{function}.ready").exists() for function in children) and _answers(port):
            return True
        time.sleep(0.1)
    if not stopping.is_set():
        print(f"[run] the functions did not start within {STARTUP_SECONDS} s", flush=True)
    return False


def _answers(port: int) -> bool:
    from local.emulator import local_opener

    with contextlib.suppress(OSError):
        with local_opener().open(urllib.request.Request(f"http://127.0.0.1:{port}/health"), timeout=2) as response:
            return response.status == 200
    return False


def _stop_all(children: dict[str, subprocess.Popen], timeout: float = 10) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + timeout
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _throttling() -> str:
    from local.verifying_server import Gateway

    return Gateway.from_template().describe()


def _banner(port: int, emulator_url: str, products: int, accounts: dict, functions: list[str],
            refunds_confirmed: bool = False) -> None:
    admin, customer = accounts["admin"], accounts["customer"]
    refunds = "confirmed by a local stand-in for the provider" if refunds_confirmed else \
        "left REQUESTED (LOCAL_AUTO_CONFIRM_REFUNDS=on confirms them)"
    print(f"""
  Shop API ........ http://localhost:{port}      (docs: http://localhost:{port}/docs)
  AWS emulator .... {emulator_url}      (IAM enforced: each function under its own policy)
  Functions ....... {", ".join(functions)}
  Throttling ...... {_throttling()}
  Refunds ......... {refunds}
  Demo catalogue .. {products} products
  Admin login ..... {admin[0]} / {admin[1]}
  Customer login .. {customer[0]} / {customer[1]}

  Log in:  curl -s -X POST localhost:{port}/auth/login -H 'Content-Type: application/json' \\
             -d '{{"email":"{admin[0]}","password":"{admin[1]}"}}'
  Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
