"""Sign-in against Cognito; failures never reveal whether an account exists."""
from __future__ import annotations

import functools

from chalicelib.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from chalicelib.core.events import envelope
from chalicelib.core.gateways import ProviderError, SignedIn, identity_provider
from chalicelib.core.ids import iso
from chalicelib.core.logs import get_logger
from chalicelib.core.outbox import announce
from chalicelib.core.settings import settings
from chalicelib.users.events import UserRegistered
from chalicelib.users.models import (
    ConfirmRequest,
    ForgotPasswordRequest,
    LoginRequest,
    Profile,
    RefreshRequest,
    Registered,
    RegisterRequest,
    ResetPasswordRequest,
    Tokens,
)
from chalicelib.users.repository import UserRepository

BAD_CREDENTIALS = "Incorrect email or password."

_THROTTLED = {"TooManyRequestsException", "LimitExceededException",
              "TooManyFailedAttemptsException"}


INVALID_CODE = "The code is invalid or has expired."


def _cognito_failure(exc: ProviderError, unauthorized_message: str = BAD_CREDENTIALS) -> Exception:
    """Map a Cognito error to our answer; unknown accounts look exactly like wrong secrets."""
    code = exc.code
    if code == "UsernameExistsException":
        return Conflict("An account with this email already exists.", code="EMAIL_TAKEN")
    if code == "InvalidPasswordException":
        return ValidationFailed("The password does not meet the policy.",
                                [{"field": "password", "issue": "weak_password",
                                  "message": "8+ characters with upper, lower and a digit"}])
    if code in ("CodeMismatchException", "ExpiredCodeException"):
        return BadRequest(INVALID_CODE, code="INVALID_CODE")
    if code == "InvalidParameterException":
        return BadRequest("The request was refused by the identity provider.", code="INVALID_PARAMETER")
    if code in ("NotAuthorizedException", "UserNotFoundException", "ResourceNotFoundException"):
        if code == "ResourceNotFoundException":
            # The emulator's answer for an unknown user; in AWS a misconfigured client id.
            get_logger("auth").warning("Cognito resource not found", extra={"cognitoError": code})
        if unauthorized_message == INVALID_CODE:
            return BadRequest(INVALID_CODE, code="INVALID_CODE")
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
    def __init__(self, users: UserRepository | None = None):
        self.users = users or UserRepository()

    def register(self, request: RegisterRequest) -> Registered:
        idp = identity_provider()
        try:
            signed_up = idp.sign_up(request.email, request.password, request.name)
            if settings().auto_confirm_users and not signed_up.confirmed:
                # Local stack only: no mailbox to read the code from.
                idp.admin_confirm(signed_up.user_id)
        except ProviderError as exc:
            raise _cognito_failure(exc) from None
        user_id, moment = signed_up.user_id, iso()
        events = [envelope(UserRegistered(user_id=user_id), actor=user_id)]
        self.users.register(Profile(user_id=user_id, email=request.email, name=request.name,
                                    created_at=moment, updated_at=moment), events)
        announce(events)
        return Registered(user_id=user_id)

    def confirm(self, request: ConfirmRequest) -> None:
        try:
            identity_provider().confirm_sign_up(request.email, request.code)
        except ProviderError as exc:
            raise _cognito_failure(exc, INVALID_CODE) from None

    def forgot_password(self, request: ForgotPasswordRequest) -> None:
        """Always accepted: whether the email has an account is not for the caller to learn."""
        try:
            identity_provider().forgot_password(request.email)
        except ProviderError as exc:
            if exc.code in ("UserNotFoundException", "InvalidParameterException", "NotAuthorizedException"):
                return
            raise _cognito_failure(exc) from None

    def reset_password(self, request: ResetPasswordRequest) -> None:
        try:
            identity_provider().confirm_forgot_password(request.email, request.code, request.password)
        except ProviderError as exc:
            raise _cognito_failure(exc, INVALID_CODE) from None

    def login(self, request: LoginRequest) -> Tokens:
        try:
            signed_in = identity_provider().password_sign_in(request.email, request.password)
        except ProviderError as exc:
            raise _cognito_failure(exc, BAD_CREDENTIALS) from None
        return self._tokens(signed_in, refresh_token=None)

    def refresh(self, request: RefreshRequest) -> Tokens:
        try:
            signed_in = identity_provider().refresh_sign_in(request.refresh_token)
        except ProviderError as exc:
            raise _cognito_failure(exc, "The refresh token is invalid or expired.") from None
        return self._tokens(signed_in, refresh_token=request.refresh_token)

    @staticmethod
    def _tokens(signed_in: SignedIn | None, refresh_token: str | None) -> Tokens:
        if signed_in is None:  # a challenge (e.g. NEW_PASSWORD_REQUIRED) this API does not offer
            raise Forbidden("This account needs an action this API does not support.",
                            code="CHALLENGE_REQUIRED")
        # Cognito issues no new refresh token on refresh: the caller keeps theirs.
        return Tokens(id_token=signed_in.id_token, access_token=signed_in.access_token,
                      refresh_token=signed_in.refresh_token or refresh_token or "",
                      expires_in=signed_in.expires_in)


@functools.lru_cache(maxsize=1)
def auth_service() -> AuthService:
    return AuthService()
