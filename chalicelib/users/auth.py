"""Sign-in against Cognito, with TOTP as an optional second factor; failures never reveal whether an
account exists."""
from __future__ import annotations

import base64
import functools
from urllib.parse import quote

from chalicelib.core.auth import Caller
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
from chalicelib.core.gateways import Challenge, ProviderError, SignedIn, identity_provider
from chalicelib.core.ids import iso
from chalicelib.core.logs import get_logger
from chalicelib.core.models import load_json
from chalicelib.core.outbox import announce
from chalicelib.core.settings import settings
from chalicelib.users.events import UserRegistered
from chalicelib.users.models import (
    ConfirmRequest,
    ForgotPasswordRequest,
    LoginRequest,
    LoginResult,
    MfaAnswer,
    MfaChallenge,
    Profile,
    RefreshRequest,
    Registered,
    RegisterRequest,
    ResetPasswordRequest,
    Tokens,
    TotpSecret,
    TotpSetupRequest,
    TotpVerifyRequest,
)
from chalicelib.users.repository import UserRepository

BAD_CREDENTIALS = "Incorrect email or password."

_THROTTLED = {"TooManyRequestsException", "LimitExceededException",
              "TooManyFailedAttemptsException"}


INVALID_CODE = "The code is invalid or has expired."
INVALID_ACCESS_TOKEN = "The access token is invalid, expired or not yours."
TOTP = "SOFTWARE_TOKEN_MFA"
# The name authenticator apps show beside the account (otpauth URI's issuer).
TOTP_ISSUER = "Shop"


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


def _mfa_failure(exc: ProviderError) -> Exception:
    """Enrolment's refusals: the access token in the body (400, not 401: the caller's ID token was fine),
    a wrong code (400), or the sign-in failures every route maps."""
    if exc.code == "NotAuthorizedException":
        return BadRequest(INVALID_ACCESS_TOKEN, code="INVALID_ACCESS_TOKEN")
    if exc.code in ("EnableSoftwareTokenMFAException", "CodeMismatchException", "ExpiredCodeException"):
        return BadRequest(INVALID_CODE, code="INVALID_CODE")
    if exc.code == "SoftwareTokenMFANotFoundException":
        return Conflict("Start the authenticator's enrolment first (POST /me/mfa/totp).", code="TOTP_NOT_STARTED")
    return _cognito_failure(exc)


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

    def login(self, request: LoginRequest) -> LoginResult:
        """The tokens, or, for an account with TOTP on, the challenge to answer at POST /auth/mfa."""
        try:
            signed_in = identity_provider().password_sign_in(request.email, request.password)
        except ProviderError as exc:
            raise _cognito_failure(exc, BAD_CREDENTIALS) from None
        if isinstance(signed_in, Challenge) and signed_in.name == TOTP and signed_in.session:
            return LoginResult(MfaChallenge(challenge=TOTP, session=signed_in.session))
        return LoginResult(self._tokens(signed_in, refresh_token=None))

    def answer_mfa(self, request: MfaAnswer) -> Tokens:
        """The second step of a sign-in: the authenticator's code for the session /auth/login gave.
        A wrong code and a spent or expired session are both 401, as a wrong password is."""
        try:
            signed_in = identity_provider().answer_totp_challenge(request.email, request.session, request.code)
        except ProviderError as exc:
            if exc.code in ("CodeMismatchException", "ExpiredCodeException"):
                raise Unauthorized(INVALID_CODE, code="INVALID_CODE") from None
            raise _cognito_failure(exc, "The sign-in session is invalid or has expired; sign in again.") from None
        return self._tokens(signed_in, refresh_token=None)

    # --- the second factor, for a signed-in user ------------------------------------------

    def start_totp(self, who: Caller, request: TotpSetupRequest) -> TotpSecret:
        """A new TOTP secret for the caller, to enter in an authenticator; it counts once verified."""
        token = self._own_access_token(who, request.access_token)
        try:
            secret = identity_provider().associate_totp(token)
        except ProviderError as exc:
            raise _mfa_failure(exc) from None
        label = quote(f"{TOTP_ISSUER}:{who.email or who.user_id}")
        uri = f"otpauth://totp/{label}?secret={secret}&issuer={quote(TOTP_ISSUER)}&algorithm=SHA1&digits=6&period=30"
        return TotpSecret(secret_code=secret, otpauth_uri=uri)

    def verify_totp(self, who: Caller, request: TotpVerifyRequest) -> None:
        """The authenticator's first code: proven, TOTP becomes the caller's second factor at every sign-in."""
        token = self._own_access_token(who, request.access_token)
        idp = identity_provider()
        try:
            idp.verify_totp(token, request.code)
            idp.prefer_totp(who.user_id, enabled=True)
        except ProviderError as exc:
            raise _mfa_failure(exc) from None

    def disable_mfa(self, who: Caller) -> None:
        """TOTP off: the password alone signs in again (the pool's MFA is OPTIONAL). Idempotent."""
        try:
            identity_provider().prefer_totp(who.user_id, enabled=False)
        except ProviderError as exc:
            if exc.code == "UserNotFoundException":  # a profile without a login: no factor to turn off
                return
            raise _mfa_failure(exc) from None

    @staticmethod
    def _own_access_token(who: Caller, token: str) -> str:
        """The token, if its claims say it is an access token of the caller. Its signature is Cognito's to
        check, on the call it authorises: a token whose claims were altered is refused there."""
        try:
            payload = token.split(".")[1]
            claims = load_json(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError, UnicodeDecodeError):  # a JsonTooDeep is a ValueError too
            claims = None
        if not isinstance(claims, dict) or claims.get("token_use") != "access" or claims.get("sub") != who.user_id:
            raise BadRequest(INVALID_ACCESS_TOKEN, code="INVALID_ACCESS_TOKEN")
        return token

    def refresh(self, request: RefreshRequest) -> Tokens:
        try:
            signed_in = identity_provider().refresh_sign_in(request.refresh_token)
        except ProviderError as exc:
            raise _cognito_failure(exc, "The refresh token is invalid or expired.") from None
        return self._tokens(signed_in, refresh_token=request.refresh_token)

    @staticmethod
    def _tokens(signed_in: SignedIn | Challenge | None, refresh_token: str | None) -> Tokens:
        if not isinstance(signed_in, SignedIn):  # a challenge (e.g. NEW_PASSWORD_REQUIRED) this API does not offer
            raise Forbidden("This account needs an action this API does not support.",
                            code="CHALLENGE_REQUIRED")
        # Cognito issues no new refresh token on refresh: the caller keeps theirs.
        return Tokens(id_token=signed_in.id_token, access_token=signed_in.access_token,
                      refresh_token=signed_in.refresh_token or refresh_token or "",
                      expires_in=signed_in.expires_in)


@functools.lru_cache(maxsize=1)
def auth_service() -> AuthService:
    return AuthService()
