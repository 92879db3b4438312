"""Every function of the app as its own principal in the emulator: a role holding exactly its policy file.

The policy files are the deployment's own (`.chalice/policy-<stage>-<function>.json`, as
`.chalice/config.json` names them per function), read when the stack starts. Their `${...}`
references are resolved against the resources the stack created, as CloudFormation resolves
the same strings in the packaged template. Each role is assumed once, with the function's name
as the session name, so a denial names the function.

A function's code then runs with its role's credentials: in its own process, from the
environment, as Lambda hands them over (`Identity.environment()`, what `make run` does); or, for
in-process tests, per call (`running_as()`), without rebuilding any client.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import pathlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local.bootstrap import Resolver, Stack, load_template

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}
SESSION_SECONDS = 12 * 3600  # the longest a role session may last


@dataclass(frozen=True)
class Identity:
    function: str
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's code."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_SESSION_TOKEN": self.session_token}


def policy_files(stage: str, config_path: pathlib.Path = CONFIG) -> dict[str, pathlib.Path]:
    """Function name -> its policy file, as Chalice resolves them for the stage."""
    config = json.loads(config_path.read_text())
    stage_config = config["stages"][stage]
    default = stage_config.get("iam_policy_file") or config.get("iam_policy_file")
    files = {"api_handler": default}
    for name, settings in {**config.get("lambda_functions", {}), **stage_config.get("lambda_functions", {})}.items():
        files[name] = settings.get("iam_policy_file") or default
    missing = [name for name, file in files.items() if not file]
    if missing:
        raise ValueError(f"no iam_policy_file for {missing} in stage {stage}")
    return {name: config_path.parent / file for name, file in files.items()}


def _resolved(value: Any, resolver: Resolver) -> Any:
    if isinstance(value, dict):
        return {key: _resolved(item, resolver) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, resolver) for item in value]
    if isinstance(value, str) and "${" in value:
        return resolver.sub(value)
    return value


def policy_document(stage: str, function: str) -> dict:
    """A function's policy file as written (references unresolved)."""
    return json.loads(policy_files(stage)[function].read_text())


def policies(stage: str, stack: Stack, *, region: str = "us-east-1", parameters: Mapping[str, str] | None = None,
             replacing: Mapping[str, dict] | None = None) -> dict[str, dict]:
    """Function name -> its policy document (or `replacing[function]`), references resolved against `stack`."""
    resolver = Resolver(load_template(), stack, {"Stage": stage, **(parameters or {})}, region)
    documents = {name: json.loads(path.read_text()) for name, path in policy_files(stage).items()}
    documents.update(replacing or {})
    return {name: _resolved(document, resolver) for name, document in documents.items()}


def create_identities(stage: str, stack: Stack, *, session: Any, endpoint_url: str | None,
                      region: str = "us-east-1", documents: Mapping[str, dict] | None = None) -> dict[str, Identity]:
    """A role per function holding its policy (or `documents[function]`), assumed once. Uses `session`'s keys,
    which must be the emulator's operator."""
    documents = dict(documents) if documents is not None else policies(stage, stack, region=region)
    iam = session.client("iam", endpoint_url=endpoint_url, region_name=region)
    sts = session.client("sts", endpoint_url=endpoint_url, region_name=region)
    identities = {}
    for function, document in documents.items():
        role = f"shop-{stage}-{function}"
        try:
            arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName=f"{role}-policy", PolicyDocument=json.dumps(document))
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=function,
                                      DurationSeconds=SESSION_SECONDS)["Credentials"]
        identities[function] = Identity(function, arn, credentials["AccessKeyId"], credentials["SecretAccessKey"],
                                        credentials["SessionToken"])
    return identities


# --- in-process: one identity per call ------------------------------------------------------

_bound: dict[str, Identity] = {}
_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("function_identity", default=None)


def bind(identities: Mapping[str, Identity]) -> None:
    """Let `running_as()` switch between these identities in this process."""
    _install_switch()
    _bound.clear()
    _bound.update(identities)


def unbind() -> None:
    _bound.clear()


@contextlib.contextmanager
def running_as(function: str) -> Iterator[Identity]:
    """Every AWS call made inside (by any client that took its keys from the default chain) is the function's."""
    try:
        identity = _bound[function]
    except KeyError:
        raise LookupError(f"no identity for function {function!r}: is it in .chalice/config.json?") from None
    token = _current.set(identity)
    try:
        yield identity
    finally:
        _current.reset(token)


def _install_switch() -> None:
    """Clients resolve credentials once and sign with `get_frozen_credentials()` on every call: answer
    that with the current function's keys, or, outside `running_as()`, with what the chain found."""
    import botocore.session
    from botocore.credentials import Credentials, ReadOnlyCredentials

    if getattr(botocore.session.Session.get_credentials, "_switches_identity", False):
        return

    class SwitchingCredentials(Credentials):
        def __init__(self, fallback: Any):
            self._fallback = fallback
            self.method = "local-function-identity"

        def _active(self) -> Any:
            identity = _current.get()
            if identity is not None:
                return ReadOnlyCredentials(identity.access_key_id, identity.secret_access_key, identity.session_token)
            return self._fallback.get_frozen_credentials() if self._fallback else ReadOnlyCredentials(None, None, None)

        def get_frozen_credentials(self) -> ReadOnlyCredentials:
            return self._active()

        access_key = property(lambda self: self._active().access_key)
        secret_key = property(lambda self: self._active().secret_key)
        token = property(lambda self: self._active().token)
        account_id = property(lambda self: self._active().account_id)

    original = botocore.session.Session.get_credentials

    def get_credentials(self: Any) -> Any:
        if getattr(self, "_explicit_credentials", False):
            return original(self)
        return SwitchingCredentials(original(self))

    original_set = botocore.session.Session.set_credentials

    def set_credentials(self: Any, *args: Any, **kwargs: Any) -> None:
        self._explicit_credentials = True  # a session built with explicit keys keeps them
        original_set(self, *args, **kwargs)

    get_credentials._switches_identity = True
    botocore.session.Session.get_credentials = get_credentials
    botocore.session.Session.set_credentials = set_credentials
