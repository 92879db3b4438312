"""`make run`: the whole shop on this machine, no AWS account needed.

Starts the emulator, creates the stack's resources from the merge template, seeds demo data,
serves the API with token verification on PORT, and runs the event worker; Ctrl-C or SIGTERM
stops everything it started.
"""
from __future__ import annotations

import os
import pathlib
import signal
import sys
import threading

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE = "local"


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    state = ROOT / ".local-stack"
    state.mkdir(exist_ok=True)

    from local.emulator import Emulator

    emulator = Emulator(int(os.environ["MOTO_PORT"]) if os.environ.get("MOTO_PORT") else None,
                        log_path=str(state / "emulator.log")).start()
    stopping = threading.Event()
    server = worker = None

    def stop(*_args) -> None:
        if stopping.is_set():
            return
        stopping.set()
        print("\nStopping…", flush=True)
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        os.environ.update({"AWS_ENDPOINT_URL": emulator.url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_REGION": "us-east-1", "STAGE": STAGE})
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)  # real credentials must never mix with the emulator's
        from local.bootstrap import bootstrap

        stack = bootstrap(STAGE, emulator.url)
        os.environ.update({"TABLE_NAME": stack["table_name"], "EVENT_BUS_NAME": stack["event_bus_name"],
                           "USER_POOL_ID": stack["user_pool_id"], "USER_POOL_CLIENT_ID": stack["user_pool_client_id"]})
        if stopping.is_set():
            return 0

        app_module, config = _load_app()
        import boto3

        from local.seed import seed_catalogue, seed_users

        idp = boto3.client("cognito-idp")
        products = seed_catalogue()
        accounts = seed_users(idp, stack["user_pool_id"])

        from local.verifying_server import TokenVerifier, create_server
        from local.worker import from_app

        worker = from_app(app_module, sqs=boto3.client("sqs"), events=boto3.client("events"),
                          bus_name=stack["event_bus_name"], prefix="shop-local-worker",
                          tick_seconds=float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "60")))
        worker.start()
        pool = stack["user_pool_id"]
        verifier = TokenVerifier(f"{emulator.url}/{pool}/.well-known/jwks.json",
                                 issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
                                 audience=stack["user_pool_client_id"])
        server = create_server(app_module.app, config, "127.0.0.1", port, verifier)
        _banner(port, emulator.url, products, accounts)
        if not stopping.is_set():
            server.serve_forever()
        return 0
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.server.server_close()
        emulator.stop()
        print("Stopped.", flush=True)


def _load_app():
    """The app as `chalice local --stage local` loads it: the stage's environment applied first."""
    from chalice.cli.factory import CLIFactory

    # The environment set above (table, pool, emulator) wins over the stage file's defaults.
    overrides = {k: os.environ[k] for k in ("TABLE_NAME", "EVENT_BUS_NAME", "USER_POOL_ID", "USER_POOL_CLIENT_ID")}
    if os.environ.get("PAYMENT_WEBHOOK_SECRET"):
        overrides["PAYMENT_WEBHOOK_SECRET"] = os.environ["PAYMENT_WEBHOOK_SECRET"]
    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    app_object = config.chalice_app  # imports app.py with the stage's variables in os.environ
    os.environ.update(overrides)
    from chalicelib.core.aws import reset_clients
    from chalicelib.core.settings import reset_settings

    reset_settings()
    reset_clients()
    # The handlers the worker calls are attributes of the module Chalice imported as `app`.
    assert sys.modules["app"].app is app_object
    return sys.modules["app"], config


def _banner(port: int, emulator_url: str, products: int, accounts: dict) -> None:
    admin, customer = accounts["admin"], accounts["customer"]
    print(f"""
  Shop API ........ http://localhost:{port}      (docs: http://localhost:{port}/docs)
  AWS emulator .... {emulator_url}
  Demo catalogue .. {products} products
  Admin login ..... {admin[0]} / {admin[1]}
  Customer login .. {customer[0]} / {customer[1]}

  Log in:  curl -s -X POST localhost:{port}/auth/login -H 'Content-Type: application/json' \\
             -d '{{"email":"{admin[0]}","password":"{admin[1]}"}}'
  Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
