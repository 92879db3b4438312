"""The AWS services besides the table and the bus, each behind a small interface: Cognito, SES, SSM,
Secrets Manager.

Services reach them through `identity_provider()`, `mailer()`, `secrets()` and `stack_secrets()`; tests put fakes in
their place with `replaced(...)`, the one place to do it. A provider's refusal surfaces as
`ProviderError` carrying the provider's own error code, so services map codes to answers without
knowing botocore. Nothing here imports boto3 or botocore before a gateway is used: a cold start
pays only for the services its first request touches.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.core.aws import client, error_code
from chalicelib.core.settings import settings


class ProviderError(Exception):
    """A provider refused a call. `code` is its own error code (`UsernameExistsException`,
    `MessageRejected`), or the failure's class name where it never answered (the mailer only)."""

    def __init__(self, service: str, code: str):
        super().__init__(f"{service} refused the call: {code}")
        self.service = service
        self.code = code


@contextlib.contextmanager
def _refusals(service: str, *, unanswered: bool = False) -> Iterator[None]:
    """ClientError -> ProviderError; with `unanswered`, also failures to reach the provider at all."""
    from botocore.exceptions import BotoCoreError, ClientError

    caught: tuple[type[Exception], ...] = (ClientError, BotoCoreError) if unanswered else (ClientError,)
    try:
        yield
    except caught as exc:
        raise ProviderError(service, error_code(exc) or type(exc).__name__) from exc


# --- identity: the Cognito user pool --------------------------------------------------------

@dataclass(frozen=True)
class SignedUp:
    user_id: str  # the pool's `sub`
    confirmed: bool


@dataclass(frozen=True)
class SignedIn:
    id_token: str
    access_token: str
    refresh_token: str | None  # none on a refresh: the caller keeps theirs
    expires_in: int


@dataclass(frozen=True)
class PoolUser:
    """An account the pool holds for an email: its `sub`, whether its email was confirmed, when it signed up."""

    user_id: str
    confirmed: bool
    created_at: datetime


@dataclass(frozen=True)
class Challenge:
    """The pool asks for one more step before it issues tokens (`SOFTWARE_TOKEN_MFA`, `NEW_PASSWORD_REQUIRED`);
    `session` carries the sign-in so far to the answer."""

    name: str
    session: str


class IdentityProvider(Protocol):
    """Sign-up and sign-in for anyone with the app client; account administration for the app."""

    def sign_up(self, email: str, password: str) -> SignedUp: ...
    def confirm_sign_up(self, email: str, code: str) -> None: ...
    def forgot_password(self, email: str) -> None: ...
    def confirm_forgot_password(self, email: str, code: str, password: str) -> None: ...
    def password_sign_in(self, email: str, password: str) -> SignedIn | Challenge: ...
    def refresh_sign_in(self, refresh_token: str) -> SignedIn | Challenge: ...
    def answer_totp_challenge(self, email: str, session: str, code: str) -> SignedIn | Challenge: ...
    def associate_totp(self, access_token: str) -> str: ...
    def verify_totp(self, access_token: str, code: str) -> None: ...
    def set_totp(self, access_token: str, enabled: bool) -> None: ...
    def find(self, email: str) -> PoolUser | None: ...
    def admin_confirm(self, username: str) -> None: ...
    def disable(self, username: str) -> None: ...
    def enable(self, username: str) -> None: ...
    def global_sign_out(self, username: str) -> None: ...
    def delete(self, username: str) -> None: ...
    def user_ids_in_group(self, group: str) -> list[str]: ...


class CognitoUserPool:
    """The stage's user pool (`USER_POOL_ID`) and app client (`USER_POOL_CLIENT_ID`)."""

    _SERVICE = "cognito-idp"

    def sign_up(self, email: str, password: str) -> SignedUp:
        """A new, unconfirmed account. Only the email goes to the pool (the app client may write nothing else):
        the name lives in the profile, where it is validated."""
        with _refusals(self._SERVICE):
            result = self._idp().sign_up(ClientId=settings().user_pool_client_id, Username=email, Password=password,
                                         UserAttributes=[{"Name": "email", "Value": email}])
        return SignedUp(user_id=result["UserSub"], confirmed=bool(result.get("UserConfirmed")))

    def confirm_sign_up(self, email: str, code: str) -> None:
        with _refusals(self._SERVICE):
            self._idp().confirm_sign_up(ClientId=settings().user_pool_client_id, Username=email,
                                        ConfirmationCode=code)

    def forgot_password(self, email: str) -> None:
        with _refusals(self._SERVICE):
            self._idp().forgot_password(ClientId=settings().user_pool_client_id, Username=email)

    def confirm_forgot_password(self, email: str, code: str, password: str) -> None:
        with _refusals(self._SERVICE):
            self._idp().confirm_forgot_password(ClientId=settings().user_pool_client_id, Username=email,
                                                ConfirmationCode=code, Password=password)

    def password_sign_in(self, email: str, password: str) -> SignedIn | Challenge:
        """The tokens, or the challenge the pool asks for first (SOFTWARE_TOKEN_MFA, NEW_PASSWORD_REQUIRED)."""
        return self._sign_in("USER_PASSWORD_AUTH", {"USERNAME": email, "PASSWORD": password})

    def refresh_sign_in(self, refresh_token: str) -> SignedIn | Challenge:
        return self._sign_in("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token})

    def answer_totp_challenge(self, email: str, session: str, code: str) -> SignedIn | Challenge:
        """A sign-in's SOFTWARE_TOKEN_MFA challenge answered with the authenticator's code (unsigned: the
        session and the app client authorise it, not IAM)."""
        with _refusals(self._SERVICE):
            result = self._idp().respond_to_auth_challenge(
                ClientId=settings().user_pool_client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code})
        return self._signed_in(result)

    def associate_totp(self, access_token: str) -> str:
        """A new TOTP secret for the access token's user (unsigned: the token authorises it)."""
        with _refusals(self._SERVICE):
            return self._idp().associate_software_token(AccessToken=access_token)["SecretCode"]

    def verify_totp(self, access_token: str, code: str) -> None:
        """The authenticator's first code, proving it holds the secret; a wrong one is refused
        (`EnableSoftwareTokenMFAException` in AWS, `CodeMismatchException` in the emulator)."""
        with _refusals(self._SERVICE):
            result = self._idp().verify_software_token(AccessToken=access_token, UserCode=code)
        if result.get("Status") != "SUCCESS":
            raise ProviderError(self._SERVICE, "EnableSoftwareTokenMFAException")

    def set_totp(self, access_token: str, enabled: bool) -> None:
        """TOTP on as the access token's user's preferred (and only) second factor, or off. Unsigned: Cognito
        checks the token (its signature, expiry, revocation) on this very call; no IAM grant lets the app
        change anyone's factors."""
        with _refusals(self._SERVICE):
            self._idp().set_user_mfa_preference(AccessToken=access_token,
                                                SoftwareTokenMfaSettings={"Enabled": enabled, "PreferredMfa": enabled})

    def find(self, email: str) -> PoolUser | None:
        """The account signed up with this email, if any."""
        try:
            with _refusals(self._SERVICE):
                user = self._idp().admin_get_user(UserPoolId=settings().user_pool_id, Username=email)
        except ProviderError as exc:
            if exc.code == "UserNotFoundException":
                return None
            raise
        sub = next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), user["Username"])
        return PoolUser(user_id=sub, confirmed=user.get("UserStatus") != "UNCONFIRMED",
                        created_at=user["UserCreateDate"])

    def admin_confirm(self, username: str) -> None:
        self._admin("admin_confirm_sign_up", username)

    def disable(self, username: str) -> None:
        self._admin("admin_disable_user", username)

    def enable(self, username: str) -> None:
        self._admin("admin_enable_user", username)

    def global_sign_out(self, username: str) -> None:
        self._admin("admin_user_global_sign_out", username)

    def delete(self, username: str) -> None:
        """Remove the login and every attribute the pool holds (email, name): erasure, not suspension."""
        self._admin("admin_delete_user", username)

    def user_ids_in_group(self, group: str) -> list[str]:
        """The `sub` of every enabled member (staff groups are small: a call or two)."""
        ids, token = [], None
        while True:
            request: dict[str, Any] = {"UserPoolId": settings().user_pool_id, "GroupName": group, "Limit": 60}
            if token:
                request["NextToken"] = token
            with _refusals(self._SERVICE):
                result = self._idp().list_users_in_group(**request)
            for user in result.get("Users", []):
                sub = next((a["Value"] for a in user.get("Attributes", []) if a["Name"] == "sub"), None)
                if sub and user.get("Enabled", True):
                    ids.append(sub)
            token = result.get("NextToken")
            if not token:
                return ids

    def _sign_in(self, flow: str, parameters: dict[str, str]) -> SignedIn | Challenge:
        with _refusals(self._SERVICE):
            result = self._idp().initiate_auth(ClientId=settings().user_pool_client_id, AuthFlow=flow,
                                               AuthParameters=parameters)
        return self._signed_in(result)

    @staticmethod
    def _signed_in(result: dict[str, Any]) -> SignedIn | Challenge:
        tokens = result.get("AuthenticationResult")
        if not tokens:
            return Challenge(name=result.get("ChallengeName") or "", session=result.get("Session") or "")
        return SignedIn(id_token=tokens["IdToken"], access_token=tokens["AccessToken"],
                        refresh_token=tokens.get("RefreshToken"), expires_in=tokens.get("ExpiresIn", 3600))

    def _admin(self, operation: str, username: str) -> None:
        with _refusals(self._SERVICE):
            getattr(self._idp(), operation)(UserPoolId=settings().user_pool_id, Username=username)

    def _idp(self) -> Any:
        return client(self._SERVICE)


# --- email: SES -------------------------------------------------------------------------------

class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str) -> None: ...


class SesMailer:
    """Plain-text email from the stage's sender (`EMAIL_SENDER`)."""

    def send(self, to: str, subject: str, text: str) -> None:
        # Unreachable counts as refused: the caller keeps the email pending and tries again later.
        with _refusals("ses", unanswered=True):
            client("ses").send_email(Source=settings().email_sender, Destination={"ToAddresses": [to]},
                                     Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}})


# --- secrets: SSM Parameter Store ---------------------------------------------------------------

class Secrets(Protocol):
    def get(self, name: str) -> str: ...


class SsmSecrets:
    """SecureString parameters, decrypted. Not cached here: callers cache what they read per container."""

    def get(self, name: str) -> str:
        with _refusals("ssm"):
            return client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


class SecretsManagerSecrets:
    """Secrets the stack generates itself (Secrets Manager), by name or ARN. Callers cache what they read."""

    def get(self, name: str) -> str:
        with _refusals("secretsmanager"):
            return client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]


# --- the getters ------------------------------------------------------------------------------

_replacements: dict[str, Any] = {}


@functools.cache
def _real(name: str) -> Any:
    return {"identity_provider": CognitoUserPool, "mailer": SesMailer, "secrets": SsmSecrets,
            "stack_secrets": SecretsManagerSecrets}[name]()


def identity_provider() -> IdentityProvider:
    return _replacements.get("identity_provider") or _real("identity_provider")


def mailer() -> Mailer:
    return _replacements.get("mailer") or _real("mailer")


def secrets() -> Secrets:
    return _replacements.get("secrets") or _real("secrets")


def stack_secrets() -> Secrets:
    return _replacements.get("stack_secrets") or _real("stack_secrets")


@contextlib.contextmanager
def replaced(**fakes: Any) -> Iterator[None]:
    """Within the block, the getters answer `fakes` (tests): `with replaced(mailer=Outbox()): ...`."""
    unknown = set(fakes) - {"identity_provider", "mailer", "secrets", "stack_secrets"}
    if unknown:
        raise TypeError(f"no such gateway: {', '.join(sorted(unknown))}")
    before = dict(_replacements)
    _replacements.update(fakes)
    try:
        yield
    finally:
        _replacements.clear()
        _replacements.update(before)
