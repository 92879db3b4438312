"""`make run`: the whole shop on this machine, no AWS account needed.

Starts the emulator (IAM enforced, one request at a time, its state restored from the stack's
folder), creates the stack's resources from the merge template (or keeps those a restored state
holds) and a role per function from its policy file, seeds demo data into an empty shop, then
runs every function of the app in its own process under its own role: the API (tokens verified)
on PORT, and a worker per event handler. A function process that exits is started again (see
`local.supervisor`). Ctrl-C or SIGTERM stops everything it started, and so does the emulator
dying (said plainly). A call a function's policy does not allow is printed as `[iam] AccessDenied ...`.

Everything of one stack lives in one folder, `.local-stack/` (`LOCAL_STACK_DIR`): its logs, and in
`state/` the emulator's state and what the stack created, kept across runs; `FRESH=1` empties it first.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE = "local"
STARTUP_SECONDS = 60


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    folder = pathlib.Path(os.environ.get("LOCAL_STACK_DIR") or ROOT / ".local-stack").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with _only_stack_using(folder) as holder:
        if holder is not None:
            print(f"[run] another `make run` (pid {holder}) is using {folder}: stop it first, or give this one a "
                  f"folder of its own with LOCAL_STACK_DIR", flush=True)
            return 1
        return _run(port, folder)


def _run(port: int, folder: pathlib.Path) -> int:
    state = folder / "state"
    if _fresh(os.environ.get("FRESH", "")) and state.exists():
        shutil.rmtree(state)
        print(f"[run] FRESH: starting empty ({state} removed)", flush=True)
    record = _StackRecord(state / "stack.json")
    if (state / "emulator").exists() and not record.exists():
        # The emulator's state is older than the resources (a crash during the first start): nothing to keep.
        shutil.rmtree(state / "emulator")

    from local.emulator import OPERATOR, REGION, Emulator

    emulator = Emulator(int(os.environ["MOTO_PORT"]) if os.environ.get("MOTO_PORT") else None,
                        log_path=str(folder / "emulator.log"), state=state / "emulator",
                        on_denial=lambda line: print(f"[iam] {line}", flush=True),
                        on_state=lambda line: print(line, flush=True)).start(timeout=300)
    stopping = threading.Event()
    from local.supervisor import Supervisor

    functions = Supervisor(ROOT)
    provider = stripe = None

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
        stack = bootstrap_stack(STAGE, emulator.url, session=operator, existing=record.kept)
        summary = stack.summary()
        identities = create_identities(STAGE, stack, session=operator, endpoint_url=emulator.url, region=REGION)
        stack_environment = {"TABLE_NAME": summary["table_name"], "EVENT_BUS_NAME": summary["event_bus_name"],
                             "USER_POOL_ID": summary["user_pool_id"],
                             "USER_POOL_CLIENT_ID": summary["user_pool_client_id"]}
        os.environ.update(stack_environment)
        if stopping.is_set():
            return 0
        # Who takes the cards: Stripe (the local one) unless PAYMENT_PROVIDER says the generic webhook.
        os.environ["PAYMENT_PROVIDER"] = os.environ.get("PAYMENT_PROVIDER") or "stripe"
        if os.environ["PAYMENT_PROVIDER"] not in ("stripe", "generic"):
            print(f"[run] PAYMENT_PROVIDER={os.environ['PAYMENT_PROVIDER']}: stripe or generic", flush=True)
            return 1
        if os.environ["PAYMENT_PROVIDER"] == "stripe":
            stripe = _local_stripe(folder, operator.client("secretsmanager", endpoint_url=emulator.url),
                                   stack.refs["StripeSecret"], f"http://127.0.0.1:{port}")

        from local.seed import seed_catalogue, seed_totals, seed_users, shop_is_empty

        if shop_is_empty(operator.client("dynamodb", endpoint_url=emulator.url), summary["table_name"]):
            rates, methods = seed_totals()
            data = (f"new: {seed_catalogue()} demo products, {rates} tax rates, {methods} shipping methods, two demo "
                    f"logins (kept in {state} across runs)")
            record.logins = seed_users(operator.client("cognito-idp", endpoint_url=emulator.url),
                                       summary["user_pool_id"])
        else:
            restored = next((line for line in emulator.state_said if line.startswith("[state] restored ")), "")
            data = (f"kept from the last run ({restored.removeprefix('[state] restored ') or 'restored'}); "
                    f"no demo data added; `make run FRESH=1` starts empty")
        emulator.save()  # what the stack created is in the emulator's state before the record names it
        record.write(stack)

        for function, identity in identities.items():
            functions.add(function, {**os.environ, **identity.environment(), "PORT": str(port)},
                          folder / f"{function}.ready")
        functions.start()
        if not _all_ready(functions, port, stopping, emulator):
            return 1
        from local import refund_provider

        if refund_provider.enabled(os.environ):  # the payment provider's part: confirm each refund asked for
            provider = refund_provider.RefundProvider(
                sqs=operator.client("sqs", endpoint_url=emulator.url),
                events=operator.client("events", endpoint_url=emulator.url),
                bus_name=summary["event_bus_name"], api_url=f"http://127.0.0.1:{port}",
                secret=os.environ.get("PAYMENT_WEBHOOK_SECRET") or refund_provider.DEFAULT_SECRET).start()
        _banner(port, emulator.url, data, record.logins, sorted(functions.functions),
                refunds_confirmed=provider is not None, stripe_url=stripe.url if stripe else None)
        while not stopping.wait(0.5):
            if not emulator.running:
                _emulator_gone(emulator, state)
                return 1
            functions.watch()
        return 0
    finally:
        if provider is not None:
            provider.stop()
        functions.stop()
        if stripe is not None:
            stripe.stop()
        emulator.stop(timeout=30)  # it writes its state on the way out
        print("Stopped.", flush=True)


def _local_stripe(folder: pathlib.Path, secrets: Any, secret_id: str, api_url: str) -> Any:
    """localstripe started (LOCAL_STRIPE_PORT, else a free port), its test keys in the stack's Stripe secret (the
    functions read it under their own roles, as in AWS), the functions pointed at it (STRIPE_API_BASE), its events
    sent to the API's Stripe webhook signed with the secret's webhook key (it sends none until the API pays)."""
    from local.stripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe

    stripe = LocalStripe(log_path=folder / "stripe.log").start()
    try:
        secrets.put_secret_value(SecretId=secret_id,
                                 SecretString=json.dumps({"secretKey": SECRET_KEY, "webhookSecret": WEBHOOK_SECRET}))
        stripe.register_webhook(f"{api_url}/webhooks/stripe", WEBHOOK_SECRET)
    except BaseException:
        stripe.stop()
        raise
    os.environ.update({"STRIPE_API_BASE": stripe.url, "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY})
    return stripe


def _fresh(value: str) -> bool:
    return value.strip().lower() in ("1", "yes", "true", "on")


@contextlib.contextmanager
def _only_stack_using(folder: pathlib.Path):
    """Yields None while this process alone uses the folder, else the pid of the one that does."""
    with open(folder / "run.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            yield lock.read().strip() or "?"
            return
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield None


class _StackRecord:
    """What the stack created in the emulator (each resource's ids, attributes and the properties it was created
    with), so a restart keeps those resources instead of creating them again; and the demo logins seeded."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.resources: dict[str, dict] = saved.get("resources", {})
        self.logins: dict[str, list[str]] = saved.get("logins", {})
        self._properties: dict[str, dict] = {}

    def exists(self) -> bool:
        return self.path.exists()

    def kept(self, logical: str, kind: str, properties: dict) -> tuple[Any, dict] | None:
        self._properties[logical] = properties
        resource = self.resources.get(logical)
        if resource is None or resource["type"] != kind:
            return None
        if resource["properties"] != _plain(properties):
            print(f"[run] {logical} ({kind}) differs in the template from what was created before: kept as it was; "
                  f"`make run FRESH=1` creates it anew (and starts empty)", flush=True)
            properties = resource["properties"]
        self._properties[logical] = properties
        return resource["ref"], resource["attributes"]

    def write(self, stack: Any) -> None:
        resources = {logical: {"type": stack.types[logical], "ref": stack.refs[logical],
                               "attributes": stack.attributes[logical],
                               "properties": _plain(self._properties.get(logical, {}))}
                     for logical in stack.refs}
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"resources": resources, "logins": self.logins}, indent=1, default=str))
        os.replace(temporary, self.path)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _all_ready(functions: Any, port: int, stopping: threading.Event, emulator: Any) -> bool:
    """Every function process has started its server or its deliveries, and the API answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        exited = functions.first_exit()
        if exited is not None:
            print(f"[run] the {exited[0]} process failed to start ({exited[1]})", flush=True)
            return False
        if not emulator.running:
            return False
        if functions.all_ready() and _answers(port):
            return True
        time.sleep(0.1)
    if not stopping.is_set():
        print(f"[run] the functions did not start within {STARTUP_SECONDS} s", flush=True)
    return False


def _emulator_gone(emulator: Any, state: pathlib.Path) -> None:
    from local.supervisor import describe_exit

    print(f"[run] the AWS emulator exited ({describe_exit(emulator.returncode)}): every function works against it, "
          f"so the shop cannot go on; stopping everything. Its state is in {state} (a crash loses at most its last "
          f"second of changes, none of DynamoDB's); `make run` starts again from it.", flush=True)


def _answers(port: int) -> bool:
    from local.emulator import local_opener

    with contextlib.suppress(OSError):
        with local_opener().open(urllib.request.Request(f"http://127.0.0.1:{port}/health"), timeout=2) as response:
            return response.status == 200
    return False


def _throttling() -> str:
    from local.verifying_server import Gateway

    return Gateway.from_template().describe()


def _banner(port: int, emulator_url: str, data: str, logins: dict, functions: list[str],
            refunds_confirmed: bool = False, stripe_url: str | None = None) -> None:
    if stripe_url:
        from local.stripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET

        refunds = "paid back through the local Stripe by the payment_provider function"
        provider = (f"\n  Stripe (local) .... {stripe_url}      (publishable key {PUBLISHABLE_KEY}, secret key "
                    f"{SECRET_KEY}, webhook signing secret {WEBHOOK_SECRET}: events go to "
                    f"http://127.0.0.1:{port}/webhooks/stripe)")
    else:
        refunds = "confirmed by a local stand-in for the provider" if refunds_confirmed else \
            "left REQUESTED (LOCAL_AUTO_CONFIRM_REFUNDS=on confirms them)"
        provider = "\n  Payments ......... the generic signed webhook, POST /webhooks/payments"
    accounts = "".join(f"\n  {role.capitalize() + ' login ':.<19} {email} / {password}"
                       for role, (email, password, *_rest) in logins.items())
    admin = logins.get("admin", ("admin@example.com", "<password>"))
    print(f"""
  Shop API .......... http://localhost:{port}      (docs: http://localhost:{port}/docs)
  AWS emulator ...... {emulator_url}      (IAM enforced: each function under its own policy){provider}
  Functions ......... {", ".join(functions)}      (one exiting is started again)
  Throttling ........ {_throttling()}
  Refunds ........... {refunds}
  Data .............. {data}{accounts}

  Log in:  curl -s -X POST localhost:{port}/auth/login -H 'Content-Type: application/json' \\
             -d '{{"email":"{admin[0]}","password":"{admin[1]}"}}'
  Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
