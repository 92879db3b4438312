"""`make package STAGE=<stage>`: Chalice's SAM template merged with .chalice/resources.json into dist/<stage>/.

The merge is ours rather than `chalice package --merge-template`, for one rule Chalice lacks:
where the merge template gives an intrinsic function (Ref, Fn::GetAtt, …) for a value Chalice
also set, ours replaces Chalice's instead of being mixed into it (e.g. an SQS event source
referencing the queue by GetAtt, so CloudFormation orders the two correctly).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


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


def _sub_references(value):
    """`${...}` references in a policy document (as the policy files write them) become Fn::Sub."""
    if isinstance(value, dict):
        return {key: _sub_references(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sub_references(item) for item in value]
    if isinstance(value, str) and "${" in value:
        if "${aws:" in value:  # IAM's own variables (CloudFormation's pseudo parameters are ${AWS::...})
            raise ValueError(f"IAM policy variables need escaping as ${{!aws:...}} in policy files: {value}")
        return {"Fn::Sub": value}
    return value


def resolve_policy_references(template: dict) -> dict:
    """Chalice copies the policy files into each role verbatim; CloudFormation must resolve their references."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::IAM::Role":
            for policy in resource.get("Properties", {}).get("Policies", []):
                policy["PolicyDocument"] = _sub_references(policy["PolicyDocument"])
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


def package(stage: str, out: pathlib.Path) -> pathlib.Path:
    raw = out / "chalice"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    subprocess.run([str(pathlib.Path(sys.executable).parent / "chalice"), "package", "--stage", stage, str(raw)],
                   cwd=ROOT, env=env, check=True)
    template = resolve_policy_references(merge(json.loads((raw / "sam.json").read_text()),
                                               json.loads((ROOT / ".chalice" / "resources.json").read_text())))
    template["Parameters"]["Stage"]["Default"] = stage
    slim(raw / "deployment.zip", out / "deployment.zip")
    shutil.rmtree(raw)
    path = out / "template.json"
    path.write_text(json.dumps(template, indent=2) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", choices=["local", "dev", "prod"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    path = package(args.stage, pathlib.Path(args.out or ROOT / "dist" / args.stage))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} and deployment.zip")


if __name__ == "__main__":
    main()
