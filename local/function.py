"""One function of the app in its own process, as Lambda runs it: its own keys, its own module state.

    python -m local.function api_handler        # the API behind the token-verifying gateway, on PORT
    python -m local.function <event handler>    # deliveries of that function's events (see local.worker)

`make run` (local/run.py) starts one per function with the function's role credentials in the
environment, where Lambda puts them, so every AWS call its code makes is checked against its
own policy file by the emulator. The emulator, table, pool and bus come from the environment
too (AWS_ENDPOINT_URL, TABLE_NAME, EVENT_BUS_NAME, USER_POOL_ID, USER_POOL_CLIENT_ID).
The process stops on SIGTERM or SIGINT, and when the process that started it goes away.
"""
from __future__ import annotations

import os
import pathlib
import signal
import sys
import threading
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE = "local"
# Set by the stack, never taken from the stage file: where the resources really are.
STACK_VARIABLES = ("TABLE_NAME", "EVENT_BUS_NAME", "USER_POOL_ID", "USER_POOL_CLIENT_ID", "PAYMENT_WEBHOOK_SECRET",
                   "PAYMENT_PROVIDER", "STRIPE_API_BASE", "STRIPE_PUBLISHABLE_KEY")


def load_app(function: str = "api_handler") -> tuple[Any, Any]:
    """The app as `chalice local --stage local` loads it: the stage's environment applied first, as `function`
    gets it (Chalice lays a function's own variables over the stage's; other functions' own are not its)."""
    from chalice.cli.factory import CLIFactory

    overrides = {name: os.environ[name] for name in STACK_VARIABLES if os.environ.get(name)}
    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    own = config.scope(STAGE, function).environment_variables
    app_object = config.chalice_app  # imports app.py with the stage's variables (as the API gets them) in os.environ
    for name in set(config.environment_variables) - set(own):
        os.environ.pop(name, None)
    os.environ.update(own)
    os.environ.update(overrides)
    from chalicelib.core.aws import reset_clients
    from chalicelib.core.settings import reset_settings

    reset_settings()
    reset_clients()
    # The handlers the worker calls are attributes of the module Chalice imported as `app`.
    assert sys.modules["app"].app is app_object
    return sys.modules["app"], config


def operator_session() -> Any:
    """The emulator's own keys, for the plumbing that stands in for AWS's event sources."""
    import boto3

    from local.emulator import OPERATOR, REGION

    return boto3.session.Session(region_name=REGION, **OPERATOR)


def _serve_api(app_module: Any, config: Any, stopping: threading.Event) -> None:
    from local.verifying_server import TokenVerifier, create_server

    endpoint, pool = os.environ["AWS_ENDPOINT_URL"], os.environ["USER_POOL_ID"]
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    verifier = TokenVerifier(f"{endpoint}/{pool}/.well-known/jwks.json",
                             issuer=f"https://cognito-idp.{region}.amazonaws.com/{pool}",
                             audience=os.environ["USER_POOL_CLIENT_ID"])
    server = create_server(app_module.app, config, "127.0.0.1", int(os.environ.get("PORT", "8000")), verifier)
    threading.Thread(target=lambda: (stopping.wait(), server.shutdown()), daemon=True).start()
    _ready()
    try:
        server.serve_forever()
    finally:
        server.server.server_close()


def _deliver(function: str, app_module: Any, stopping: threading.Event) -> None:
    import boto3

    from local.worker import from_app

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    operator = operator_session()
    worker = from_app(app_module, sqs=operator.client("sqs", endpoint_url=endpoint),
                      events=operator.client("events", endpoint_url=endpoint),
                      consumer_sqs=boto3.session.Session().client("sqs", endpoint_url=endpoint),
                      bus_name=os.environ["EVENT_BUS_NAME"], prefix="shop-local-worker",
                      tick_seconds=float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "60")), functions={function})
    if not worker.deliveries and not worker.schedules:
        raise SystemExit(f"app.py has no event handler named {function!r}")
    worker.start()
    _ready()
    try:
        stopping.wait()
    finally:
        worker.stop()


def _ready() -> None:
    """Tell whoever started this process that it serves: the ready file, holding this process's id."""
    marker = os.environ.get("LOCAL_READY_FILE")
    if marker:
        temporary = pathlib.Path(marker + ".tmp")
        temporary.write_text(str(os.getpid()))
        os.replace(temporary, marker)  # never seen empty


def _watch_parent(stopping: threading.Event) -> None:
    parent = os.getppid()
    while not stopping.wait(1):
        if os.getppid() != parent:  # orphaned: whatever started us is gone
            stopping.set()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    function = args[0]
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    threading.Thread(target=_watch_parent, args=(stopping,), daemon=True).start()
    app_module, config = load_app(function)
    if function == "api_handler":
        _serve_api(app_module, config, stopping)
    else:
        _deliver(function, app_module, stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
