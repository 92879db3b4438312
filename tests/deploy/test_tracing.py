"""Prod traces: every function runs the collector extension the stack names, sends it OTLP on localhost
and may write what it forwards to X-Ray; without a layer named, no function carries one."""
from __future__ import annotations

import zipfile

import pytest

from tools.template_checks import deploy, tracing_problems

COLLECTOR = "arn:aws:lambda:eu-west-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"


@pytest.fixture(scope="module")
def functions(packaged) -> dict[str, dict]:
    deployed = deploy(packaged.expanded, "prod", {"OtelCollectorLayerArn": COLLECTOR})
    return {logical: (r["Properties"], deployed) for logical, r in deployed.of_type("AWS::Lambda::Function").items()}


def test_every_prod_function_traces_through_the_collector_extension(functions):
    assert len(functions) >= 6
    for logical, (properties, deployed) in functions.items():
        variables = properties["Environment"]["Variables"]
        assert properties["Layers"] == [COLLECTOR], logical
        assert variables["TRACING"] == "true" and variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
        assert properties["TracingConfig"] == {"Mode": "Active"}  # Lambda samples and starts the trace
    assert tracing_problems(deployed) == []  # each may send what its collector forwards to X-Ray
    broken = deployed.copy()
    for document in broken.role_policies(broken.function_role("Notify")):
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "Tracing"]
    assert [p.split(":")[0] for p in tracing_problems(broken)] == ["Notify (NotifyRole)"] * 2


def test_without_a_collector_layer_no_function_carries_one(packaged):
    deployed = deploy(packaged.expanded, "prod")
    assert all("Layers" not in r["Properties"] for r in deployed.of_type("AWS::Lambda::Function").values())


def test_the_package_holds_the_tracing_sdk_and_no_xray_sdk(packaged):
    with zipfile.ZipFile(packaged.zip) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert "opentelemetry" in tops and "aws_xray_sdk" not in tops
