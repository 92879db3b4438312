"""API Gateway's import of a Swagger 2.0 definition, which moto's server lacks (it reads OpenAPI 3 only).

`chalice deploy` creates its REST API from a Swagger 2.0 document (ImportRestApi) and replaces it with the
next one on every deploy (PutRestApi, mode=overwrite). The emulator takes it as API Gateway does: resources,
methods and Lambda integrations (moto's own reader, given the same paths), the document's authorizers
(`securityDefinitions` with `x-amazon-apigateway-authorizer`) bound to the methods whose `security` names
them, binary media types and gateway responses. An overwrite replaces all of these, as in AWS (gateway
responses the document leaves out go back to API Gateway's defaults). A new deployment to an existing stage
keeps the stage's settings, as in AWS.
"""
from __future__ import annotations

import copy
from typing import Any

# The document's authorizer types, as API Gateway names them.
AUTHORIZER_TYPES = {"cognito_user_pools": "COGNITO_USER_POOLS", "token": "TOKEN", "request": "REQUEST"}


def install() -> None:
    """Teach moto's API Gateway backend Swagger 2.0 imports (idempotent)."""
    from moto.apigateway.models import APIGatewayBackend

    if getattr(APIGatewayBackend, "_imports_swagger", False):
        return
    read_openapi, import_openapi = APIGatewayBackend.put_rest_api, APIGatewayBackend.import_rest_api

    def put_rest_api(self: Any, function_id: str, api_doc: dict, fail_on_warnings: bool, mode: str = "merge") -> Any:
        if "swagger" not in api_doc:
            return read_openapi(self, function_id, api_doc, fail_on_warnings, mode)
        api = self.get_rest_api(function_id)
        if mode == "overwrite":
            api.authorizers.clear()
            api.gateway_responses.clear()
        paths = {"openapi": "3.0.1", "info": api_doc.get("info", {}), "paths": copy.deepcopy(api_doc.get("paths", {}))}
        for methods in paths["paths"].values():
            for method_doc in methods.values():
                integration = method_doc.get("x-amazon-apigateway-integration", {})
                if "type" in integration:  # API Gateway answers with its own spelling, AWS_PROXY
                    integration["type"] = integration["type"].upper()
        read_openapi(self, function_id, paths, False, mode)
        _authorize(self, api, api_doc)
        api.binaryMediaTypes = list(api_doc.get("x-amazon-apigateway-binary-media-types", api.binaryMediaTypes))
        for kind, response in api_doc.get("x-amazon-apigateway-gateway-responses", {}).items():
            api.put_gateway_response(kind, status_code=response.get("statusCode"),
                                     response_parameters=response.get("responseParameters"),
                                     response_templates=response.get("responseTemplates"))
        return api

    def import_rest_api(self: Any, api_doc: dict, fail_on_warnings: bool) -> Any:
        if "swagger" not in api_doc:
            return import_openapi(self, api_doc, fail_on_warnings)
        info = api_doc.get("info", {})
        api = self.create_rest_api(name=info.get("title"), description=info.get("description", ""))
        put_rest_api(self, api.id, api_doc, fail_on_warnings, "overwrite")
        return api

    APIGatewayBackend.put_rest_api = put_rest_api
    APIGatewayBackend.import_rest_api = import_rest_api
    APIGatewayBackend._imports_swagger = True
    _keep_stages_across_deployments()


def _keep_stages_across_deployments() -> None:
    """A deployment to an existing stage moves the stage to it and keeps the stage's settings (access logs,
    throttling, tracing), as API Gateway does; moto made a new stage. Its `tracingEnabled` is applied too."""
    from moto.apigateway.models import RestAPI
    from moto.apigateway.responses import APIGatewayResponse

    create = RestAPI.create_deployment

    def create_deployment(self: Any, name: str, description: str, stage_variables: Any = None) -> Any:
        existing = self.stages.get(name) if name else None
        deployment = create(self, name, description, stage_variables)
        if existing is not None:
            existing.deployment_id = deployment.id
            existing.variables.update(stage_variables or {})
            self.stages[name] = existing
        return deployment

    answer = APIGatewayResponse.create_deployment

    def create_deployment_answer(self: Any) -> Any:
        response = answer(self)
        tracing = self._get_param("tracingEnabled")
        if tracing is not None and self._get_param("stageName"):
            api = self.backend.get_rest_api(self.path.replace("/restapis/", "", 1).split("/")[0])
            api.stages[self._get_param("stageName")].tracing_enabled = bool(tracing)
        return response

    RestAPI.create_deployment = create_deployment
    APIGatewayResponse.create_deployment = create_deployment_answer


def _authorize(backend: Any, api: Any, api_doc: dict) -> None:
    """Create the document's authorizers and put each in front of the methods whose `security` names it."""
    authorizers = {}
    for name, scheme in api_doc.get("securityDefinitions", {}).items():
        spec = scheme.get("x-amazon-apigateway-authorizer")
        if spec is None:
            continue
        authorizers[name] = backend.create_authorizer(
            api.id, name, AUTHORIZER_TYPES[spec["type"]], provider_arns=spec.get("providerARNs"),
            authorizer_uri=spec.get("authorizerUri"), authorizer_credentials=spec.get("authorizerCredentials"),
            identity_source=spec.get("identitySource", f"method.request.header.{scheme.get('name', 'Authorization')}"),
            authorizer_result_ttl=spec.get("authorizerResultTtlInSeconds"))
    for path, methods in api_doc.get("paths", {}).items():
        resource = api.get_resource_for_path(path)
        for verb, method_doc in methods.items():
            named = [authorizers[name] for requirement in method_doc.get("security", []) for name in requirement
                     if name in authorizers]
            method = resource.get_method(verb.upper())
            method.authorization_type, method.authorizer_id = (named[0].type, named[0].id) if named else ("NONE", None)
