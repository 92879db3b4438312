"""The emulator imports a REST API from Swagger 2.0 as API Gateway does, so `chalice deploy` runs against it."""
from __future__ import annotations

import boto3
import pytest
from chalice import Chalice, CognitoUserPoolAuthorizer
from chalice.deploy.swagger import SwaggerGenerator

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:shop-dev"


@pytest.fixture
def apigateway():
    from moto import mock_aws

    from local.apigateway import install

    install()
    with mock_aws():
        yield boto3.client("apigateway", region_name="us-east-1")


def _definition(**extra) -> dict:
    app = Chalice(app_name="shop")
    users = CognitoUserPoolAuthorizer("ShopUsers", provider_arns=[POOL])

    @app.route("/products/{product_id}")
    def read(product_id):
        return {}

    @app.route("/basket", methods=["GET", "DELETE"], authorizer=users)
    def basket():
        return {}

    return {**SwaggerGenerator("us-east-1", {"api_handler_arn": FUNCTION}).generate_swagger(app), **extra}


def _methods(apigateway, api_id: str) -> dict[tuple[str, str], dict]:
    found = {}
    for resource in apigateway.get_resources(restApiId=api_id)["items"]:
        for verb in resource.get("resourceMethods", {}):
            found[(resource["path"], verb)] = apigateway.get_method(restApiId=api_id, resourceId=resource["id"],
                                                                    httpMethod=verb)
    return found


def test_a_chalice_definition_is_imported_with_its_routes_integrations_and_authorizer(apigateway):
    api_id = apigateway.import_rest_api(body=_json(_definition()))["id"]
    assert apigateway.get_rest_api(restApiId=api_id)["name"] == "shop"
    methods = _methods(apigateway, api_id)
    assert set(methods) == {("/products/{product_id}", "GET"), ("/basket", "GET"), ("/basket", "DELETE")}
    (authorizer,) = apigateway.get_authorizers(restApiId=api_id)["items"]
    assert (authorizer["name"], authorizer["type"], authorizer["providerARNs"]) == (
        "ShopUsers", "COGNITO_USER_POOLS", [POOL])
    for key in (("/basket", "GET"), ("/basket", "DELETE")):
        assert (methods[key]["authorizationType"], methods[key]["authorizerId"]) == ("COGNITO_USER_POOLS",
                                                                                    authorizer["id"])
    assert methods[("/products/{product_id}", "GET")]["authorizationType"] == "NONE"
    integration = methods[("/products/{product_id}", "GET")]["methodIntegration"]
    assert integration["type"] == "AWS_PROXY" and FUNCTION in integration["uri"]


def test_an_overwrite_replaces_routes_authorizers_and_gateway_responses_as_in_aws(apigateway):
    responses = {"UNAUTHORIZED": {"responseTemplates": {"application/json": '{"error":{"code":"UNAUTHORIZED"}}'}}}
    api_id = apigateway.import_rest_api(body=_json(_definition(**{
        "x-amazon-apigateway-gateway-responses": responses})))["id"]
    assert [r["responseType"] for r in apigateway.get_gateway_responses(restApiId=api_id)["items"]] == [
        "UNAUTHORIZED"]
    apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=_json(_definition()))
    assert apigateway.get_gateway_responses(restApiId=api_id)["items"] == []  # the next definition had none
    assert len(apigateway.get_authorizers(restApiId=api_id)["items"]) == 1
    assert len(_methods(apigateway, api_id)) == 3


def _json(document: dict) -> bytes:
    import json

    return json.dumps(document).encode()


def test_a_new_deployment_keeps_the_stages_settings_as_in_aws(apigateway):
    api_id = apigateway.import_rest_api(body=_json(_definition()))["id"]
    apigateway.create_deployment(restApiId=api_id, stageName="api")
    apigateway.update_stage(restApiId=api_id, stageName="api", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "200"},
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": "arn:aws:logs:us-east-1:1:log-group:a"}])
    apigateway.create_deployment(restApiId=api_id, stageName="api", tracingEnabled=True)  # what chalice deploy does
    stage = apigateway.get_stage(restApiId=api_id, stageName="api")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 200
    assert stage["accessLogSettings"]["destinationArn"] == "arn:aws:logs:us-east-1:1:log-group:a"
    assert stage["tracingEnabled"] is True
    assert stage["deploymentId"] == apigateway.get_deployments(restApiId=api_id)["items"][-1]["id"]
