"""One moto server per test module, with the merge template's resources created in it."""
from __future__ import annotations

import boto3
import pytest

from local.bootstrap import bootstrap_stack
from local.emulator import Emulator

REGION = "us-east-1"


@pytest.fixture(scope="module")
def emulator():
    with Emulator(port=None) as running:
        yield running


@pytest.fixture(scope="module")
def session():
    # Explicit fake credentials: the suite's autouse fixture resets the environment per test.
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture(scope="module")
def client_for(emulator, session):
    def make(service: str):
        return session.client(service, endpoint_url=emulator.url)
    return make


@pytest.fixture(scope="module")
def stack(emulator, session):
    return bootstrap_stack("local", emulator.url, session=session)
