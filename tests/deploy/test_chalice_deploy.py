"""`make deploy STAGE=dev`, then `chalice deploy --stage dev`, against the emulator, as a fresh clone runs them.

A copy of the project is deployed into a moto server this module starts (IAM enforced, the local stack's
emulator), with every connection but to 127.0.0.1 and the package index sent to a closed port, so a call
escaping to AWS fails loudly. What `chalice deploy` made is then compared, resource by resource, with what the
packaged template (`make package`) declares for the same stage (tools/equivalence.py).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import boto3
import pytest

from local.emulator import OPERATOR, REGION, Emulator, free_port
from tests.deploy.test_canary import PACKAGED_ONLY_IN_PROD

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUNCTIONS = ("APIHandler", "CreateOrders", "RecordAudit", "EraseUsers", "Notify", "Housekeeping", "ValidateImages",
             "PaymentProvider")
PACKAGED_ONLY_IN_DEV = [
    "APIHandler: invoked through its `live` alias (a published version)",
    "APIHandler: CodeDeploy AllAtOnce, rolled back by 3 alarm(s)",
    "CreateOrders: invoked through its `live` alias (a published version)",
    "CreateOrders: CodeDeploy AllAtOnce, rolled back by 1 alarm(s)"]


def _clone(target: pathlib.Path) -> pathlib.Path:
    """The project's files as a fresh clone has them (timestamps kept), sharing the virtualenv and Chalice's cache
    of built dependencies."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(os.path.realpath(ROOT / ".venv"))
    (ROOT / ".chalice" / "deployments").mkdir(exist_ok=True)
    (target / ".chalice" / "deployments").symlink_to(ROOT / ".chalice" / "deployments")
    return target


class Deployment:
    def __init__(self, project: pathlib.Path, emulator: Emulator):
        self.project, self.emulator = project, emulator
        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: a call that is not to a local server fails
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                    "AWS_ENDPOINT_URL": emulator.url, "AWS_ACCESS_KEY_ID": OPERATOR["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": OPERATOR["aws_secret_access_key"], "AWS_DEFAULT_REGION": REGION,
                    "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "http_proxy": closed, "https_proxy": closed,
                    # the package index, where Chalice fetches the runtime's wheels it has not cached
                    "NO_PROXY": "127.0.0.1,localhost,pypi.org,files.pythonhosted.org",
                    "no_proxy": "127.0.0.1,localhost,pypi.org,files.pythonhosted.org"}
        session = boto3.session.Session(region_name=REGION, **OPERATOR)
        self.client = lambda service: session.client(service, endpoint_url=emulator.url)

    def run(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=self.project, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def chalice(self, *arguments: str) -> subprocess.CompletedProcess:
        """Plain Chalice, one build at a time with the packaging of other tests (it writes its cache in place)."""
        from tools.package import _exclusive

        with _exclusive(ROOT / ".chalice" / "deployments" / ".package.lock"):
            return self.run(str(self.project / ".venv" / "bin" / "chalice"), *arguments)

    def make(self, *arguments: str) -> subprocess.CompletedProcess:
        # -o: the shared virtualenv counts as installed (the clone's requirement files are new to it)
        return subprocess.run(["make", "-o", ".venv/.installed", *arguments], cwd=self.project, env=self.env,
                              capture_output=True, text=True, timeout=600, check=False)

    def package(self, stage: str, out: pathlib.Path) -> pathlib.Path:
        """`make package`'s template for the stage (without its lint, which tests/deploy runs), as expanded."""
        packaged = self.run(sys.executable, "-c", "import pathlib, sys; from tools.package import package; "
                            "package(sys.argv[1], pathlib.Path(sys.argv[2]))", stage, str(out))
        assert packaged.returncode == 0, packaged.stderr[-3000:]
        return out / "expanded.json"

    def equivalence(self, stage: str = "dev", expanded: pathlib.Path | None = None) -> tuple[int, list[str], list[str]]:
        result = self.run(sys.executable, "-m", "tools.equivalence", "--stage", stage, "--expanded",
                          str(expanded or self.expanded))
        lines = result.stdout.splitlines()
        assert result.returncode in (0, 1), result.stderr[-3000:]
        return (result.returncode, [line.removeprefix("differs: ") for line in lines if line.startswith("differs:")],
                [line.removeprefix("only packaged: ") for line in lines if line.startswith("only packaged:")])

    @property
    def config(self) -> dict:
        return json.loads((self.project / ".chalice" / "config.json").read_text())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    project = _clone(tmp_path_factory.mktemp("clone"))
    with Emulator() as emulator:
        deployed = Deployment(project, emulator)
        started = time.monotonic()
        deployed.first = deployed.make("deploy", "STAGE=dev")
        deployed.seconds = time.monotonic() - started
        assert deployed.first.returncode == 0, deployed.first.stdout[-4000:] + deployed.first.stderr[-4000:]
        deployed.dist = tmp_path_factory.mktemp("dist")
        deployed.expanded = deployed.package("dev", deployed.dist / "dev")
        yield deployed


def test_make_deploy_builds_the_stage_in_the_emulator_in_three_parts(deployment):
    out = deployment.first.stdout
    assert "shop-dev-resources: CREATE_COMPLETE" in out and "shop-dev-wiring: CREATE_COMPLETE" in out
    assert "by the emulator's CloudFormation" in out and "by the local bootstrap" in out
    assert "Creating lambda function: shop-dev-create_orders" in out and "Creating Rest API" in out
    assert "6 SQS sources report partial failures" in out
    stacks = {s["StackName"] for s in deployment.client("cloudformation").describe_stacks()["Stacks"]}
    assert stacks == {"shop-dev-resources", "shop-dev-wiring"}
    assert deployment.seconds < 120, deployment.seconds


def test_what_chalice_deploy_made_equals_what_the_packaged_template_declares(deployment):
    code, differences, packaged_only = deployment.equivalence()
    assert differences == [] and code == 0
    assert packaged_only == PACKAGED_ONLY_IN_DEV


def test_the_stage_records_the_stacks_values_and_policies_with_only_its_arns(deployment):
    stage = deployment.config["stages"]["dev"]
    environment = stage["environment_variables"]
    pools = deployment.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    (pool,) = [p for p in pools if p["Name"] == "shop-dev"]
    assert environment["USER_POOL_ID"] == pool["Id"] and environment["USER_POOL_ARN"].endswith(pool["Id"])
    assert environment["TABLE_NAME"] == "shop-dev" and environment["NOTIFY_QUEUE_NAME"] == "shop-dev-notify"
    assert stage["iam_policy_file"] == "deployed/dev/policy-api-handler.json"
    assert stage["lambda_functions"]["housekeeping"]["reserved_concurrency"] == 1
    assert stage["lambda_functions"]["api_handler"]["reserved_concurrency"] == 100
    # The Stripe keys' secret is a setting of the two functions that read it only, and reaches no other function
    given = {name for name, function in stage["lambda_functions"].items()
             if "STRIPE_SECRET" in function.get("environment_variables", {})}
    assert given == {"api_handler", "payment_provider"} and "STRIPE_SECRET" not in environment
    lambda_ = deployment.client("lambda")
    for name, reads in (("shop-dev", True), ("shop-dev-payment_provider", True), ("shop-dev-notify", False)):
        variables = lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        assert ("STRIPE_SECRET" in variables) == reads, name
    recorded = json.loads((deployment.project / ".chalice" / "deployed" / "dev" / "stack.json").read_text())
    arns = {str(v) for v in [*recorded["refs"].values(),
                             *(v for values in recorded["attributes"].values() for v in values.values())]
            if str(v).startswith("arn:")}
    # the stage's own stored setting and its SES identity (a parameter of the stack), by the ARNs AWS gives them
    settings = ("arn:aws:ssm:us-east-1:123456789012:parameter/shop/dev/", "arn:aws:ses:us-east-1:123456789012:identity/")
    files = sorted((deployment.project / ".chalice" / "deployed" / "dev").glob("policy-*.json"))
    assert len(files) == 8
    for path in files:
        for statement in json.loads(path.read_text())["Statement"]:
            for resource in statement["Resource"]:
                assert "${" not in resource, (path.name, resource)
                of_the_stack = resource in arns or any(resource.startswith(arn + "/") for arn in arns)
                assert of_the_stack or resource.startswith(settings) or (
                    resource == "*" and statement["Sid"] == "Tracing"), (path.name, resource)
    # the committed policy templates stay what `make policies` writes: the packaged path reads them
    assert (deployment.project / ".chalice" / "policy-dev-api-handler.json").read_text() == \
        (ROOT / ".chalice" / "policy-dev-api-handler.json").read_text()


def test_each_route_is_behind_the_authorizer_its_declaration_names_bound_to_the_stacks_pool(deployment):
    from chalicelib.core.http import route_doc

    apigateway = deployment.client("apigateway")
    (api,) = [a for a in apigateway.get_rest_apis()["items"] if a["name"] == "shop"]
    pool = deployment.config["stages"]["dev"]["environment_variables"]["USER_POOL_ARN"]
    authorizers = {a["id"]: a for a in apigateway.get_authorizers(restApiId=api["id"])["items"]}
    assert [a["providerARNs"] for a in authorizers.values()] == [[pool]]
    from app import app, domains

    assert domains.registered  # every domain's routes, as Chalice's deploy reads them
    checked = 0
    for resource in apigateway.get_resources(restApiId=api["id"], limit=500)["items"]:
        for verb in resource.get("resourceMethods", {}):
            if verb == "OPTIONS":
                continue
            method = apigateway.get_method(restApiId=api["id"], resourceId=resource["id"], httpMethod=verb)
            access = route_doc(app.routes[resource["path"]][verb].view_function).access
            guarded = method["authorizationType"] == "COGNITO_USER_POOLS"
            assert guarded == (access in ("user", "admin")), (verb, resource["path"], access)
            checked += 1
    assert checked > 50


def test_a_code_only_chalice_deploy_keeps_all_but_the_gateway_responses_and_make_deploy_restores_them(deployment):
    plain = deployment.chalice("deploy", "--stage", "dev")
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert "Updating lambda function: shop-dev-create_orders" in plain.stdout
    _, differences, _ = deployment.equivalence()
    drifted = {line.split(":")[0] for line in differences}
    # Chalice replaces the API's definition, which holds no gateway responses; it builds for the Python that
    # runs it (the runtime is python3.13 only from Python 3.13, as make deploy builds from any).
    runtime = set() if sys.version_info[:2] == (3, 13) else {f"{f} Runtime" for f in FUNCTIONS}
    assert drifted == {"RestAPI gateway responses"} | runtime, differences
    again = deployment.make("deploy", "STAGE=dev")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]  # idempotent, in the emulator too
    assert deployment.equivalence()[:2] == (0, [])


def test_prod_differs_from_its_package_only_in_what_only_the_package_gives(deployment):
    prod = deployment.make("deploy", "STAGE=prod")
    assert prod.returncode == 0, prod.stdout[-3000:] + prod.stderr[-3000:]
    assert "WebAclAssociation" in prod.stdout  # named, not made: the emulator has no WAF
    expanded = deployment.package("prod", deployment.dist / "prod")
    code, differences, packaged_only = deployment.equivalence("prod", expanded)
    assert (code, differences) == (0, [])  # tracing included: prod's functions and stage trace
    assert packaged_only == PACKAGED_ONLY_IN_PROD


def test_a_setting_changed_behind_the_deploys_back_is_named(deployment):
    lambda_ = deployment.client("lambda")
    lambda_.update_function_configuration(FunctionName="shop-dev-notify", MemorySize=512)
    mapping = next(m for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
                   if m["EventSourceArn"].endswith(":shop-dev-orders"))
    lambda_.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=[])
    code, differences, _ = deployment.equivalence()
    assert code == 1
    assert sorted(line.split(":")[0] for line in differences) == ["CreateOrders event sources", "Notify MemorySize"]
