"""Shared plumbing: claims, settings, error rendering (cursors: test_cursors.py)."""
from __future__ import annotations

import pytest

from chalicelib.core.auth import caller_from_claims, parse_groups
from chalicelib.core.errors import Unauthorized
from chalicelib.core.settings import Settings


@pytest.mark.parametrize("raw,expected", [
    (["admin", "staff"], {"admin", "staff"}),
    ("admin", {"admin"}),
    ("admin,staff", {"admin", "staff"}),
    ("[admin, staff]", {"admin", "staff"}),
    ("", set()),
    (None, set()),
])
def test_groups_are_parsed_from_gateway_strings_and_local_lists(raw, expected):
    assert parse_groups(raw) == expected


def test_claims_without_sub_are_refused():
    with pytest.raises(Unauthorized):
        caller_from_claims({"email": "a@example.com"})
    with pytest.raises(Unauthorized):
        caller_from_claims(None)


def test_admin_is_recognised_from_groups():
    assert caller_from_claims({"sub": "u1", "cognito:groups": "admin"}).is_admin
    assert not caller_from_claims({"sub": "u1", "cognito:groups": "administrators"}).is_admin


def test_settings_read_the_environment_and_validate():
    settings = Settings.from_environ({"STAGE": "prod", "TABLE_NAME": "t", "AWS_DEFAULT_REGION": "eu-west-1",
                                      "AUTO_CONFIRM_USERS": "false", "PAYMENT_WINDOW_MINUTES": "45"})
    assert (settings.stage, settings.table_name, settings.region) == ("prod", "t", "eu-west-1")
    assert settings.payment_window_minutes == 45 and settings.auto_confirm_users is False
    with pytest.raises(ValueError):
        Settings.from_environ({"STAGE": "staging"})


def test_importing_the_app_loads_no_service_reads_no_settings_and_creates_no_clients():
    """Services, repositories and AWS load on first use; in Lambda the routes and models too
    (tests/core/test_routing.py)."""
    import subprocess
    import sys

    code = ("import os, sys, app\n"
            "first_use = ('service', 'repository', 'checkout', 'pipeline', 'auth')\n"
            "first_use += ('routes', 'models') if os.environ.get('AWS_LAMBDA_FUNCTION_NAME') else ()\n"
            "bad = [m for m in ('moto', 'pytest', 'aws_xray_sdk', 'opentelemetry', 'tests', 'boto3', 'botocore')\n"
            "       if m in sys.modules]\n"
            "bad += [m for m in sys.modules if m.startswith('chalicelib.') and\n"
            "        m.rsplit('.', 1)[-1] in first_use and\n"
            "        m not in ('chalicelib.core.auth', 'chalicelib.core.models')]\n"
            "assert not bad, bad\n"
            "from chalicelib.core.settings import settings\n"
            "from chalicelib.core.aws import client\n"
            "assert settings.cache_info().currsize == 0\n"
            "assert client.cache_info().currsize == 0\n")
    for lambda_environment in ({}, {"AWS_LAMBDA_FUNCTION_NAME": "shop-test"}):
        result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", **lambda_environment})
        assert result.returncode == 0, (lambda_environment, result.stderr)


def test_registering_every_domain_builds_no_models_validator():
    """Models defer their validators to first use (ApiModel's defer_build): defining every domain's costs a cold
    start or a SnapStart restore no schema. A parametrised RootModel is a class of its own that would not defer."""
    from tests.core.processes import run_fresh

    code = ("import app, pydantic\n"
            "assert app.domains.registered\n"
            "def subclasses(of):\n"
            "    for model in of.__subclasses__():\n"
            "        yield model\n"
            "        yield from subclasses(model)\n"
            "built = sorted({m.__module__ + '.' + m.__qualname__ for m in subclasses(pydantic.BaseModel)\n"
            "                if m.__module__.startswith('chalicelib.') and m.__pydantic_complete__})\n"
            "assert not built, built\n")
    run_fresh(code, env={"PATH": "/usr/bin:/bin"})


def test_a_catalogue_read_loads_neither_events_nor_the_outbox():
    """The commonest cold first request reads a product: the modules that announce changes (events, the outbox)
    are imported by the changes that announce something."""
    from tests.core.processes import run_fresh

    code = ("import sys, app\n"
            "import chalicelib.catalogue.routes\n"
            "from chalicelib.composition import services\n"
            "services().catalogue\n"
            "loaded = [m for m in ('chalicelib.core.events', 'chalicelib.core.outbox', 'chalicelib.catalogue.events')\n"
            "          if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    run_fresh(code)
