"""The merge template split for `chalice deploy` (tools/stacks.py): every resource and every property has its
place, the resources stack stands on its own and outputs every value read from it, and what the stage's
configuration records is what the packaged stack would give the same functions."""
from __future__ import annotations

import json

import pytest

from tools import merge_template, stacks
from tools.merge_template import FUNCTIONS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def template() -> dict:
    return merge_template.template()


def test_every_resource_has_its_place_and_the_resources_stack_needs_nothing_that_follows(template):
    from tools.template_checks import dependencies

    places = {logical: stacks.part(template, logical) for logical, r in template["Resources"].items() if "Type" in r}
    assert set(places.values()) == {"resources", "wiring", "packaged"}
    wiring = {logical for logical, place in places.items() if place == "wiring"}
    assert {"WebAclAssociation", "ShopDashboard", "Api5xxAlarm", "ApiLatencyAlarm", "APIHandlerErrorsAlarm",
            "HousekeepingStoppedAlarm"} <= wiring
    assert places["CodeDeployRole"] == "packaged"
    for logical, place in places.items():
        if place == "resources":
            assert not dependencies(template, logical) & (stacks.CHALICE_MADE | wiring | {"CodeDeployRole"}), logical


def test_every_property_the_merge_template_sets_on_a_function_or_the_api_has_its_way_with_chalice_deploy(template):
    for logical in FUNCTIONS:
        properties = set(template["Resources"][logical]["Properties"])
        assert properties <= set(stacks.FUNCTION_PROPERTIES), (logical, properties - set(stacks.FUNCTION_PROPERTIES))
    api = template["Resources"]["RestAPI"]["Properties"]
    said = {f"DefinitionBody.{key}" for key in api["DefinitionBody"]} | (set(api) - {"DefinitionBody"})
    said |= {f"APIHandlerInvokePermission.{key}" for key in template["Resources"]["APIHandlerInvokePermission"][
        "Properties"]}
    assert said == set(stacks.API_PROPERTIES)


def test_the_resources_stack_lints_clean_and_goes_to_cloudformation_inline(tmp_path):
    from tools.deploy import TEMPLATE_BODY_LIMIT
    from tools.package import lint

    paths = []
    for stage in ("dev", "prod"):
        resources = stacks.resources_template(stage)
        assert len(json.dumps(resources, separators=(",", ":"))) < TEMPLATE_BODY_LIMIT
        paths.append(tmp_path / f"{stage}.json")
        paths[-1].write_text(json.dumps(resources))
    assert lint(*paths) == []  # one cfn-lint run for both


def _from_outputs(stage: str, given: dict | None = None):
    """The resources stack as CloudFormation would answer for it: its outputs, read back."""
    from local.bootstrap import Resolver
    from tools.template_checks import deploy

    resources = stacks.resources_template(stage)
    made = deploy(resources, stage, stacks.parameters(stage, given))
    resolving = Resolver(resources, made.stack, made.parameters, "us-east-1")
    outputs = {name: resolving.resolve(output["Value"]) for name, output in resources["Outputs"].items()
               if "Condition" not in output or resolving.condition(output["Condition"])}
    return stacks.stack_from_outputs(outputs, resources), made


def test_the_outputs_hold_every_value_the_configuration_the_policies_and_the_wiring_read(template):
    for stage in ("dev", "prod"):
        stack, made = _from_outputs(stage)
        resolving = stacks.resolver(stage, stack)
        settings = stacks.chalice_settings(resolving)
        assert settings["environment_variables"]["TABLE_NAME"] == f"shop-{stage}"
        assert settings["environment_variables"]["USER_POOL_ARN"] == made.arn("UserPool")
        for document in stacks.policies(stage, resolving).values():
            assert "${" not in json.dumps(document)
        chalice = stacks.chalice_made({"resources": [
            *({"name": name, "lambda_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}"}
              for name in (f"shop-{stage}", *(f"shop-{stage}-{n}" for n, _ in FUNCTIONS.values()))),
            *({"name": n, "lambda_arn": f"arn:aws:lambda:us-east-1:123456789012:function:shop-{stage}"
               + ("" if n == "api_handler" else f"-{n}")} for n, _ in FUNCTIONS.values()),
            {"name": "rest_api", "rest_api_id": "abc123"}]}, stage, "api")
        from tools.deploy import merged

        both = stacks.resolver(stage, merged(stack, chalice))
        wiring = stacks.wiring_template(both)
        text = json.dumps(wiring)
        assert "${" not in text and '"Ref"' not in text and '"Fn::' not in text  # every reference a value
        assert ("WebAclAssociation" in wiring["Resources"]) == (stage == "prod")  # dev keeps no WAF
        assert wiring["Resources"]["HousekeepingEventInvokeConfig"]["Properties"] == {
            "FunctionName": f"shop-{stage}-housekeeping", "Qualifier": "$LATEST", "MaximumRetryAttempts": 0,
            "MaximumEventAgeInSeconds": 300, "DestinationConfig": {"OnFailure": {
                "Destination": f"arn:aws:sqs:us-east-1:123456789012:shop-{stage}-housekeeping-dlq"}}}
        settings = stacks.chalice_made_settings(both)
        assert settings["event_sources"] == {name: {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
                                             for name in ("create_orders", "record_audit", "erase_users",
                                                          "validate_images", "notify", "payment_provider")}
        assert settings["stage"]["AccessLogSetting"]["DestinationArn"] == made.arn("ApiAccessLogGroup")


def test_the_stage_configuration_records_environment_reserved_concurrency_layers_and_policy_files():
    stack, _ = _from_outputs("dev")
    config = json.loads((merge_template.ROOT / ".chalice" / "config.json").read_text())
    layer = "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    resolving = stacks.resolver("dev", stack, {"OtelCollectorLayerArn": layer, "ApiReservedConcurrency": "0",
                                               "EmailSender": "shop@example.com"})
    files = {name: f"deployed/dev/policy-{name}.json" for name, _ in FUNCTIONS.values()}
    recorded = stacks.record(config, "dev", stacks.chalice_settings(resolving), files)["stages"]["dev"]
    assert recorded["layers"] == [layer]
    assert recorded["environment_variables"]["EMAIL_SENDER"] == "shop@example.com"
    assert recorded["environment_variables"]["SEND_EMAIL"] == "true"
    assert recorded["environment_variables"]["AUTO_CONFIRM_USERS"] == "false"  # the stage's own settings stay
    # The Stripe keys' secret reaches the two functions that talk to Stripe, as their own setting, no other
    stripe = {name for name, function in recorded["lambda_functions"].items()
              if "STRIPE_SECRET" in function.get("environment_variables", {})}
    assert stripe == {"api_handler", "payment_provider"} and "STRIPE_SECRET" not in recorded["environment_variables"]
    assert recorded["lambda_functions"]["payment_provider"]["environment_variables"]["STRIPE_SECRET"] == \
        stack.refs["StripeSecret"]
    # "0" as the command line gives it is the number 0: the API reserves nothing, the sweeper its one
    assert "reserved_concurrency" not in recorded["lambda_functions"]["api_handler"]
    assert recorded["lambda_functions"]["housekeeping"]["reserved_concurrency"] == 1
    assert recorded["iam_policy_file"] == files["api_handler"]
    assert {f["iam_policy_file"] for f in recorded["lambda_functions"].values()} == set(files.values())


def test_an_unknown_parameter_is_refused_before_anything_is_deployed():
    with pytest.raises(ValueError, match="no such parameter: AlarmMail"):
        stacks.parameters("dev", {"AlarmMail": "ops@example.com"})


def test_the_types_left_to_the_emulators_cloudformation_are_those_moto_models():
    from moto.cloudformation.parsing import get_model_map

    from tools.deploy import EMULATED_BY_CLOUDFORMATION

    modelled = set(get_model_map())
    assert EMULATED_BY_CLOUDFORMATION <= modelled
    used = {r["Type"] for r in stacks.resources_template("prod")["Resources"].values()}
    # moto models the bus, but its Ref gives the bus object: a rule on it would fail
    assert used & modelled - EMULATED_BY_CLOUDFORMATION == {"AWS::Events::EventBus"}
