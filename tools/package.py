"""`make package STAGE=<stage>`: Chalice's SAM template merged with .chalice/resources.json into dist/<stage>/.

dist/<stage>/ then holds deployment.zip, template.json (what CloudFormation is given) and
expanded.json (the same template after the SAM transform, as CloudFormation runs it), and both
templates are linted with cfn-lint and the serverless rules, and the expanded one goes through the
structural checks (tools/template_checks.py: logs, failure destinations, queue policies, consumers,
scope, stored settings, tracing, alarm delivery, keys): any lint error or finding fails the command.

The merge is ours rather than `chalice package --merge-template`, for one rule Chalice lacks:
where the merge template gives an intrinsic function (Ref, Fn::GetAtt, …) for a value Chalice
also set, ours replaces Chalice's instead of being mixed into it (e.g. an SQS event source
referencing the queue by GetAtt, so CloudFormation orders the two correctly).

Chalice takes the Lambda runtime from the Python that runs it; the package is built for
`RUNTIME` instead (wheels included), whichever Python 3.11+ runs this command.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

from tools import merge_template, template_checks

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNTIME = "python3.13"  # supported until mid-2029; the deploy tests fail a year before its deprecation
REGION = "us-east-1"  # where the templates are expanded and linted unless AWS_DEFAULT_REGION says otherwise


def _is_intrinsic(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) == "Ref"
                                                             or next(iter(value)).startswith("Fn::"))


def merge(base, extra):
    if isinstance(base, dict) and isinstance(extra, dict) and not _is_intrinsic(extra) and not _is_intrinsic(base):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return extra


def sub_references(value):
    """`${...}` references in a policy document (as the policy files write them) become Fn::Sub; a value that
    already is an intrinsic function (a role the merge template writes itself) stays as it is."""
    if _is_intrinsic(value):
        return value
    if isinstance(value, dict):
        return {key: sub_references(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sub_references(item) for item in value]
    if isinstance(value, str) and "${" in value:
        if "${aws:" in value:  # IAM's own variables (CloudFormation's pseudo parameters are ${AWS::...})
            raise ValueError(f"IAM policy variables need escaping as ${{!aws:...}} in policy files: {value}")
        return {"Fn::Sub": value}
    return value


def use_policy_templates(template: dict, stage: str) -> dict:
    """Each function's role holds its stage's policy file as `make policies` writes it (`${...}` references to the
    stack's own resources), whichever file the stage's configuration names: after `make deploy` it names the
    copy rendered with the resources stack's ARNs (tools/deploy.py), which this stack does not own."""
    from tools.iam_policies import policy_file

    for logical, (function, _) in merge_template.FUNCTIONS.items():
        role = template["Resources"][template["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]]
        (policy,) = role["Properties"]["Policies"]
        policy["PolicyDocument"] = json.loads((ROOT / ".chalice" / policy_file(stage, function)).read_text())
    return template


def resolve_policy_references(template: dict) -> dict:
    """Chalice copies the policy files into each role verbatim; CloudFormation must resolve their references."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::IAM::Role":
            for policy in resource.get("Properties", {}).get("Policies", []):
                policy["PolicyDocument"] = sub_references(policy["PolicyDocument"])
    return template


# The Lambda Python runtime ships boto3 and its dependencies; bundling them (they come in with
# the X-Ray SDK) would more than double the package for nothing.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _provided_by_runtime(name: str) -> bool:
    top = name.split("/", 1)[0]
    base = top.split("-", 1)[0].lower().replace(".py", "")
    return base in RUNTIME_PROVIDED or (top.endswith(".dist-info") and base.replace("python_", "") in RUNTIME_PROVIDED)


def slim(source: pathlib.Path, target: pathlib.Path) -> None:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as slimmed:
        for info in original.infolist():
            if not _provided_by_runtime(info.filename) and "__pycache__/" not in info.filename:
                slimmed.writestr(info, original.read(info.filename))


class PackagingError(RuntimeError):
    pass


@contextlib.contextmanager
def _exclusive(lock: pathlib.Path):
    """One packaging at a time per checkout: Chalice writes its dependency cache (.chalice/deployments) in place."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or REGION


def chalice_for_runtime() -> None:
    """`chalice` (arguments as on its command line) building for `RUNTIME`, not for the running Python."""
    import warnings

    from chalice import cli, config
    from chalice.deploy import packager

    config.Config.lambda_python_version = property(lambda self: RUNTIME)
    # Chalice asks pip for the runtime's wheels by ABI and platform only, so pip still matches them
    # against the running Python's version and finds none: name the runtime's version too.
    execute = packager.PipRunner._execute

    def execute_for_runtime(self, command, args, env_vars=None, shim=None):
        if command == "download" and "--abi" in args and "--python-version" not in args:
            args = [*args, "--python-version", RUNTIME.removeprefix("python")]
        return execute(self, command, args, env_vars, shim)

    packager.PipRunner._execute = execute_for_runtime
    # Chalice warns when the running Python is not the runtime's; here that is the point.
    warnings.filterwarnings("ignore", message="You are currently running")
    sys.argv = ["chalice", *sys.argv[1:]]
    sys.exit(cli.main())


def _functions(template: dict) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def invoke_through_alias(template: dict) -> dict:
    """API Gateway invokes the API function's live alias (its published, snapshotted version), not $LATEST:
    Chalice writes the unqualified function into every integration of the definition."""
    unqualified = "/functions/${APIHandler.Arn}/invocations"
    qualified = f"/functions/${{APIHandlerAlias{merge_template.LIVE_ALIAS}}}/invocations"  # SAM's name for the alias

    def rewrite(value):
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value.replace(unqualified, qualified) if isinstance(value, str) else value

    api = template["Resources"]["RestAPI"]["Properties"]
    api["DefinitionBody"] = rewrite(api["DefinitionBody"])
    return template


def stage_tracing(template: dict) -> dict[str, dict[str, str]]:
    """The API stage traces where the functions do (config.json's `xray`); where they don't, say why the
    tracing rules do not apply. Returns the lint exceptions this adds."""
    api = template["Resources"]["RestAPI"]
    traced = all(f["Properties"].get("Tracing") == "Active" for f in _functions(template).values())
    api["Properties"]["TracingEnabled"] = traced
    if traced:
        return {}
    why = "this stage does not trace (no xray in .chalice/config.json)"
    stage = "RestAPI" + "".join(c for c in api["Properties"]["StageName"] if c.isalnum()) + "Stage"
    return {**{logical: {"WS1000": why} for logical in _functions(template)},
            "RestAPI": {"WS2002": why}, stage: {"WS2002": why}}


def stage_defaults(template: dict, stage: str) -> dict:
    """The stage's parameter defaults: `Stage` itself, and where production's do not fit (no WAF in dev)."""
    template["Parameters"]["Stage"]["Default"] = stage
    for name, value in merge_template.STAGE_DEFAULTS.get(stage, {}).items():
        template["Parameters"][name]["Default"] = value
    return template


def exempt(template: dict, exceptions: dict[str, dict[str, str]]) -> dict:
    """Write the lint exceptions (logical id -> {rule: reason}) into the metadata of the resources present."""
    for logical, reasons in exceptions.items():
        resource = template["Resources"].get(logical)
        if resource is None:
            continue
        lint = resource.setdefault("Metadata", {}).setdefault("cfn-lint", {})
        checks = lint.setdefault("config", {}).setdefault("ignore_checks", [])
        checks[:] = sorted(set(checks) | set(reasons))
        lint["reasons"] = {**lint.get("reasons", {}), **reasons}
    return template


class _NoManagedPolicies:
    """The transform's managed-policy loader, without an AWS call: the functions name no SAM policies."""

    def load(self) -> dict[str, str]:
        return {}


def expand(template: dict) -> dict:
    """The template after the SAM transform (AWS::Serverless-2016-10-31), as CloudFormation deploys it."""
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(template)
    for function in _functions(source).values():
        function["Properties"]["CodeUri"] = "s3://deployment-bucket/deployment.zip"  # what `cloudformation package` does
    os.environ.setdefault("AWS_DEFAULT_REGION", _region())
    # Offline, the transform has no feature-toggle configuration and warns for each toggle it asks about (one
    # on deployment preferences' conditions, which none of ours has): it keeps the default behaviour.
    logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)
    return transform(source, {}, _NoManagedPolicies())


def foreign_extensions(archive: pathlib.Path) -> list[str]:
    """Compiled modules in the package that the runtime (CPython `RUNTIME`, Linux arm64) cannot load."""
    tag = f"cpython-{RUNTIME.removeprefix('python').replace('.', '')}-aarch64-linux-gnu"
    with zipfile.ZipFile(archive) as package_zip:
        return [name for name in package_zip.namelist()
                if name.endswith(".so") and tag not in name and not name.endswith(".abi3.so")]


def package(stage: str, out: pathlib.Path) -> pathlib.Path:
    raw = out / "chalice"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, AWS_DEFAULT_REGION=_region())
    wrapper = "from tools.package import chalice_for_runtime; chalice_for_runtime()"
    with _exclusive(ROOT / ".chalice" / "deployments" / ".package.lock"):
        result = subprocess.run([sys.executable, "-c", wrapper, "package", "--stage", stage, str(raw)],
                                cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    print(result.stdout + result.stderr, end="", file=sys.stderr)
    if result.returncode or "Could not install dependencies" in result.stdout + result.stderr:
        # Chalice only warns when it finds no wheel of a dependency for the runtime; the package would not run.
        raise PackagingError(f"chalice package failed for {RUNTIME}")
    template = merge(json.loads((raw / "sam.json").read_text()),
                     json.loads((ROOT / ".chalice" / "resources.json").read_text()))
    template = resolve_policy_references(use_policy_templates(template, stage))
    stage_defaults(template, stage)
    invoke_through_alias(template)
    exceptions = {**merge_template.LINT_EXCEPTIONS}
    for logical, reasons in stage_tracing(template).items():
        exceptions[logical] = {**exceptions.get(logical, {}), **reasons}
    exempt(template, exceptions)
    slim(raw / "deployment.zip", out / "deployment.zip")
    shutil.rmtree(raw)
    foreign = foreign_extensions(out / "deployment.zip")
    if foreign:
        raise PackagingError(f"compiled modules not built for {RUNTIME} on arm64: {foreign}")
    path = out / "template.json"
    path.write_text(json.dumps(template, indent=2) + "\n")
    (out / "expanded.json").write_text(json.dumps(exempt(expand(template), exceptions), indent=2) + "\n")
    return path


def lint(*paths: pathlib.Path) -> list[dict]:
    """cfn-lint with the serverless rules: every finding as {"rule", "level", "file", "line", "message"}."""
    command = [str(pathlib.Path(sys.executable).parent / "cfn-lint"), "--format", "json",
               "--regions", _region(), "-a", "cfn_lint_serverless.rules", "--", *map(str, paths)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode & ~0b1110:  # 2, 4 and 8 say errors, warnings and notes were found; anything else failed
        raise RuntimeError(f"cfn-lint failed: {result.stderr or result.stdout}")
    return [{"rule": m["Rule"]["Id"], "level": m["Level"], "file": m["Filename"],
             "line": m["Location"]["Start"]["LineNumber"], "message": m["Message"]}
            for m in json.loads(result.stdout or "[]")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", choices=["local", "dev", "prod"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    try:
        path = package(args.stage, pathlib.Path(args.out or ROOT / "dist" / args.stage))
    except PackagingError as error:
        sys.exit(str(error))
    where = path.parent.relative_to(ROOT) if path.is_relative_to(ROOT) else path.parent
    print(f"wrote {where}/: deployment.zip, template.json, expanded.json (after the SAM transform)")
    findings = lint(path, path.parent / "expanded.json")
    for f in findings:
        print(f"{f['level']} {f['rule']} {f['file']}:{f['line']} {f['message']}")
    errors = sum(f["level"] == "Error" for f in findings)
    print(f"cfn-lint + serverless rules: {errors} errors, {len(findings) - errors} warnings and notes")
    structural = check_structure(path.parent / "expanded.json", args.stage)
    if errors or structural:
        sys.exit(1)


def check_structure(expanded: pathlib.Path, stage: str) -> int:
    """What AWS would refuse or leave broken in the expanded template: prints each finding and a summary,
    returns how many findings there were."""
    passed, findings = template_checks.run(json.loads(expanded.read_text()), stage)
    for finding in findings:
        print(f"Error structural {finding}")
    failed = len(template_checks.CHECKS) - len(passed)
    counted = f"{len(findings)} finding" + ("s" if len(findings) > 1 else "")
    print(f"structural checks: {len(passed)} passed" + (f", {failed} failed ({counted})" if findings else ""))
    return len(findings)


if __name__ == "__main__":
    main()
