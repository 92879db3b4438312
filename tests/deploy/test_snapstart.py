"""Cold starts in prod: the API and the order consumer run published versions behind the `live` alias,
restored from SnapStart snapshots (or, for the API, kept warm by provisioned concurrency by parameter),
and everything that invokes them invokes the alias. Dev keeps neither unless its parameters say so."""
from __future__ import annotations

import copy

import pytest

from tools.merge_template import LIVE_ALIAS, SNAPSTART_FUNCTIONS
from tools.template_checks import Deployed, deploy

INTEGRATION = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"


@pytest.fixture(scope="module")
def deployed(packaged) -> Deployed:
    return deploy(packaged.expanded, "prod")


def _alias(deployed: Deployed, function: str) -> tuple[str, dict]:
    (found,) = [(logical, r["Properties"]) for logical, r in deployed.of_type("AWS::Lambda::Alias").items()
                if deployed.function_of(r["Properties"]["FunctionName"]) == function]
    return found


def _integrations(definition: dict) -> list[str]:
    return [operation["x-amazon-apigateway-integration"]["uri"] for path in definition["paths"].values()
            for operation in path.values() if "x-amazon-apigateway-integration" in operation]


def test_the_api_and_the_order_consumer_snapshot_published_versions_behind_the_live_alias(deployed):
    for function in SNAPSTART_FUNCTIONS:
        assert deployed.resources[function]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        name, alias = _alias(deployed, function)
        assert alias["Name"] == LIVE_ALIAS
        (version,) = [v for v, r in deployed.of_type("AWS::Lambda::Version").items()
                      if deployed.function_of(r["Properties"]["FunctionName"]) == function]
        assert alias["FunctionVersion"] == deployed.stack.attributes[version]["Version"]
    snapshotted = {f for f, r in deployed.of_type("AWS::Lambda::Function").items() if "SnapStart" in r["Properties"]}
    assert snapshotted == set(SNAPSTART_FUNCTIONS)  # the asynchronous consumers can wait for a cold start


def test_api_gateway_invokes_the_alias_and_may_invoke_only_it(deployed):
    name, _ = _alias(deployed, "APIHandler")
    alias_arn = deployed.stack.refs[name]
    assert alias_arn.endswith(f":function:shop-prod:{LIVE_ALIAS}")
    uris = _integrations(deployed.resources["RestAPI"]["Properties"]["Body"])
    assert uris and set(uris) == {INTEGRATION.format(alias_arn)}
    (permission,) = [p["Properties"] for p in deployed.of_type("AWS::Lambda::Permission").values()
                     if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert permission["FunctionName"] == alias_arn


def test_the_order_queue_feeds_the_alias(deployed):
    name, _ = _alias(deployed, "CreateOrders")
    (mapping,) = [m["Properties"] for m in deployed.of_type("AWS::Lambda::EventSourceMapping").values()
                  if deployed.function_of(m["Properties"]["FunctionName"]) == "CreateOrders"]
    assert mapping["FunctionName"] == deployed.stack.refs[name]
    assert mapping["EventSourceArn"] == deployed.arn("OrdersQueue")


def test_an_integration_left_on_the_unqualified_function_is_caught(packaged):
    broken = copy.deepcopy(packaged.expanded)
    body = broken["Resources"]["RestAPI"]["Properties"]["Body"]
    operation = next(iter(next(iter(body["paths"].values())).values()))
    operation["x-amazon-apigateway-integration"]["uri"] = {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                   "${APIHandler.Arn}/invocations"}
    deployed = deploy(broken, "prod")
    alias_arn = deployed.stack.refs[_alias(deployed, "APIHandler")[0]]
    assert set(_integrations(deployed.resources["RestAPI"]["Properties"]["Body"])) != {INTEGRATION.format(alias_arn)}


def test_provisioned_concurrency_on_the_api_alias_by_parameter_replaces_its_snapshots(packaged, deployed):
    assert "ProvisionedConcurrencyConfig" not in _alias(deployed, "APIHandler")[1]  # default 0: none
    warm = deploy(packaged.expanded, "prod", {"ApiProvisionedConcurrency": 5})
    assert _alias(warm, "APIHandler")[1]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 5}
    # Lambda refuses SnapStart on a function with provisioned concurrency: the API gives up its snapshots.
    assert warm.resources["APIHandler"]["Properties"]["SnapStart"] == {"ApplyOn": "None"}
    assert warm.resources["CreateOrders"]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_dev_snapshots_nothing_and_provisions_nothing_unless_its_parameters_say_so(packaged):
    from tools.package import stage_defaults

    dev_template = stage_defaults(copy.deepcopy(packaged.template), "dev")
    assert dev_template["Parameters"]["EnableSnapStart"]["Default"] == "false"
    assert dev_template["Parameters"]["ApiProvisionedConcurrency"]["Default"] == 0
    dev = deploy(packaged.expanded, "dev", {"EnableSnapStart": "false"})
    for function in SNAPSTART_FUNCTIONS:
        assert dev.resources[function]["Properties"]["SnapStart"] == {"ApplyOn": "None"}
        assert "ProvisionedConcurrencyConfig" not in _alias(dev, function)[1]
    assert deploy(packaged.expanded, "dev", {"EnableSnapStart": "true"}).resources["APIHandler"]["Properties"][
        "SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_replaced_versions_are_deleted_so_their_snapshots_stop_being_billed(packaged):
    versions = [r for r in packaged.expanded["Resources"].values() if r["Type"] == "AWS::Lambda::Version"]
    assert len(versions) == len(SNAPSTART_FUNCTIONS)
    assert {v.get("DeletionPolicy") for v in versions} == {"Delete"}
