"""The pipeline (.github/workflows): test, package, dev and its smoke test, then prod behind an approval, with AWS
credentials only through GitHub's OIDC provider, into roles whose trust and rights are in the repository."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from local.iam import Decision, evaluate
from tools.template_checks import deploy

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ROLES = ROOT / ".github" / "aws" / "deploy-roles.json"
ACTIONLINT = pathlib.Path(sys.executable).parent / "actionlint"


def _workflow(name: str) -> dict:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def _actionlint(*files: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACTIONLINT), "-no-color", "-oneline", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_actionlint_finds_nothing_in_the_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["deploy.yml", "ship.yml"]
    result = _actionlint(*files)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows"
    shutil.copytree(WORKFLOWS, broken)
    ship = (broken / "ship.yml").read_text().replace("needs: package", "needs: packages")
    (broken / "ship.yml").write_text(ship)
    result = _actionlint(broken / "ship.yml")
    assert result.returncode == 1 and "[job-needs]" in result.stdout and 'needs job "packages"' in result.stdout, \
        result.stdout


def test_the_pipeline_tests_packages_deploys_dev_smokes_it_then_waits_for_approval_before_prod():
    ship = _workflow("ship.yml")
    jobs = ship["jobs"]
    assert ship["on"]["push"]["branches"] == ["main"]
    assert [step.get("run") for step in jobs["test"]["steps"] if "run" in step] == ["make test"]
    assert [step["run"] for step in jobs["package"]["steps"] if "run" in step] == [
        "make package STAGE=dev", "make package STAGE=prod"]
    assert (jobs["package"]["needs"], jobs["dev"]["needs"], jobs["prod"]["needs"]) == ("test", "package", "dev")
    assert jobs["dev"]["with"] == {"stage": "dev", "environment": "dev"}
    assert jobs["prod"]["with"] == {"stage": "prod", "environment": "production"}  # the protected environment
    assert "refs/heads/main" in jobs["dev"]["if"] and "pull_request" in jobs["dev"]["if"]
    deploy_jobs = _workflow("deploy.yml")["jobs"]
    assert deploy_jobs["smoke"]["needs"] == "deploy"
    assert deploy_jobs["deploy"]["environment"] == deploy_jobs["smoke"]["environment"] == "${{ inputs.environment }}"
    assert deploy_jobs["smoke"]["steps"][-1]["run"] == 'make smoke BASE_URL="$BASE_URL"'
    deploy_script = deploy_jobs["deploy"]["steps"][-1]["run"]
    assert "aws cloudformation deploy" in deploy_script and "--role-arn" in deploy_script
    assert 'dist/$STAGE/template.json' in deploy_script  # what `make package` built and checked


def test_aws_credentials_come_only_from_github_oidc():
    ship, deploying = _workflow("ship.yml"), _workflow("deploy.yml")
    for job in ("dev", "prod"):
        assert ship["jobs"][job]["permissions"]["id-token"] == "write"
    assert ship["permissions"] == {"contents": "read"}
    (credentials,) = [s for s in deploying["jobs"]["deploy"]["steps"]
                      if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert set(credentials["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
    text = "".join(path.read_text() for path in WORKFLOWS.glob("*.yml"))
    for stored in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert stored not in text


@pytest.fixture(scope="module")
def roles():
    template = json.loads(ROLES.read_text())
    return template, deploy(template, "dev", {"GitHubRepository": "example/shop", "ExistingOidcProviderArn": ""})


def test_the_deploy_roles_template_lints_clean(roles):
    from tools.package import lint

    assert lint(ROLES) == []


def test_each_deploy_role_trusts_only_its_environment_of_this_repository(roles):
    _, made = roles
    provider = made.stack.refs["GitHubOidcProvider"]  # its Ref is its ARN
    for role, environment in (("DevDeployRole", "dev"), ("ProdDeployRole", "production")):
        (statement,) = made.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Federated": provider}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:example/shop:environment:{environment}"}}


def test_a_deploy_role_changes_only_its_stages_stack_and_hands_it_to_cloudformation(roles):
    _, made = roles
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/shop-{}/0a1b2c3d"
    dev = made.role_policies("DevDeployRole")
    assert evaluate(dev, "cloudformation:ExecuteChangeSet", stack.format("dev")) is Decision.ALLOWED
    assert evaluate(dev, "cloudformation:ExecuteChangeSet", stack.format("prod")) is not Decision.ALLOWED
    assert evaluate(dev, "cloudformation:DeleteStack", stack.format("dev")) is not Decision.ALLOWED
    assert evaluate(dev, "iam:PassRole", made.arn("CloudFormationRole")) is Decision.ALLOWED
    assert evaluate(dev, "iam:PassRole", "arn:aws:iam::123456789012:role/Admin") is not Decision.ALLOWED
    assert evaluate(dev, "iam:CreateRole", "arn:aws:iam::123456789012:role/shop-dev-x") is not Decision.ALLOWED
    bucket = made.arn("ArtifactBucket")
    assert evaluate(dev, "s3:PutObject", f"{bucket}/shop-dev/abc/deployment.zip") is Decision.ALLOWED
    assert evaluate(dev, "s3:PutObject", f"{bucket}/shop-prod/abc/deployment.zip") is not Decision.ALLOWED
    prod = made.role_policies("ProdDeployRole")
    assert evaluate(prod, "cloudformation:ExecuteChangeSet", stack.format("prod")) is Decision.ALLOWED
    assert evaluate(prod, "cloudformation:ExecuteChangeSet", stack.format("dev")) is not Decision.ALLOWED
