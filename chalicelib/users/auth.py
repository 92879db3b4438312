"""Sign-in against Cognito; failures never reveal whether an account exists."""
from __future__ import annotations

import functools

from botocore.exceptions import ClientError

from chalicelib.core.aws import client, error_code
from chalicelib.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from chalicelib.core.logs import get_logger
from chalicelib.core.settings import settings
from chalicelib.users.models import LoginRequest, RefreshRequest, Tokens

BAD_CREDENTIALS = "Incorrect email or password."

_THROTTLED = {"TooManyRequestsException", "LimitExceededException",
              "TooManyFailedAttemptsException"}


def _cognito_failure(exc: ClientError, unauthorized_message: str) -> Exception:
    code = error_code(exc)
    if code in ("NotAuthorizedException", "UserNotFoundException"):
        return Unauthorized(unauthorized_message)
    if code == "UserNotConfirmedException":
        return Forbidden("Confirm your email address before signing in.", code="USER_NOT_CONFIRMED")
    if code == "PasswordResetRequiredException":
        return Forbidden("A password reset is required.", code="PASSWORD_RESET_REQUIRED")
    if code in _THROTTLED:
        return TooManyRequests("Too many attempts; try again later.")
    get_logger("auth").error("Cognito call failed", extra={"cognitoError": code})
    return ServiceUnavailable("Sign-in is unavailable right now.")


class AuthService:
    def login(self, request: LoginRequest) -> Tokens:
        try:
            result = client("cognito-idp").initiate_auth(
                ClientId=settings().user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": request.email, "PASSWORD": request.password})
        except ClientError as exc:
            raise _cognito_failure(exc, BAD_CREDENTIALS) from None
        return self._tokens(result, refresh_token=None)

    def refresh(self, request: RefreshRequest) -> Tokens:
        try:
            result = client("cognito-idp").initiate_auth(
                ClientId=settings().user_pool_client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": request.refresh_token})
        except ClientError as exc:
            raise _cognito_failure(exc, "The refresh token is invalid or expired.") from None
        return self._tokens(result, refresh_token=request.refresh_token)

    @staticmethod
    def _tokens(result: dict, refresh_token: str | None) -> Tokens:
        auth = result.get("AuthenticationResult")
        if not auth:  # a challenge (e.g. NEW_PASSWORD_REQUIRED) this API does not offer
            raise Forbidden("This account needs an action this API does not support.",
                            code="CHALLENGE_REQUIRED")
        # Cognito issues no new refresh token on refresh: the caller keeps theirs.
        return Tokens(id_token=auth["IdToken"], access_token=auth["AccessToken"],
                      refresh_token=auth.get("RefreshToken") or refresh_token or "",
                      expires_in=auth.get("ExpiresIn", 3600))


@functools.lru_cache(maxsize=1)
def auth_service() -> AuthService:
    return AuthService()
