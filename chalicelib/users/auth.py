"""Sign-up and sign-in against Cognito, with TOTP as an optional second factor. No answer tells whether an
account exists: registering a known email answers as a new one (its holder is told), an unconfirmed account
answers as a wrong password. Wrong guesses (passwords, codes) are counted per account and per account and
client address, and a key that failed too often must wait (core/attempts.py)."""
from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from urllib.parse import quote

from chalicelib.core.attempts import Attempts, Limit
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
from chalicelib.core.gateways import Challenge, IdentityProvider, ProviderError, SignedIn, SignedUp, identity_provider
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger
from chalicelib.core.models import load_json
from chalicelib.core.outbox import EventAlreadyKept, announce
from chalicelib.core.settings import settings
from chalicelib.users import account_status, models
from chalicelib.users.events import MfaChanged, SignUpRepeated, UserRegistered
from chalicelib.users.repository import AccountInactive, UserRepository

BAD_CREDENTIALS = "Incorrect email or password."
# Wrong passwords and codes: an account from one address gets three free, then waits 1 s, 2 s, 4 s, ... (one
# client cannot reach Cognito's own lockout of the account, which would hold its holder back too); an account
# from anywhere gets twenty (many addresses guessing one account).
SIGN_IN_FROM = Limit("sign-in-from", free=3)
SIGN_IN = Limit("sign-in", free=20)
# Cognito's answers to a wrong secret (or an account that cannot sign in, answered alike).
_WRONG = {"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException",
          "ResourceNotFoundException", "CodeMismatchException", "ExpiredCodeException"}
REAUTHENTICATION_FAILED = "The password or the code is not right."

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
    if code == "InvalidPasswordException":
        return ValidationFailed("The password does not meet the policy.",
                                [{"field": "password", "issue": "weak_password",
                                  "message": "8+ characters with upper, lower and a digit"}])
    if code in ("CodeMismatchException", "ExpiredCodeException"):
        return BadRequest(INVALID_CODE, code="INVALID_CODE")
    if code == "InvalidParameterException":
        return BadRequest("The request was refused by the identity provider.", code="INVALID_PARAMETER")
    # An unconfirmed account: Cognito says so before it checks the password, so it is answered as a wrong one.
    if code in ("NotAuthorizedException", "UserNotFoundException", "ResourceNotFoundException",
                "UserNotConfirmedException"):
        if code == "ResourceNotFoundException":
            # The emulator's answer for an unknown user; in AWS a misconfigured client id.
            get_logger("auth").warning("Cognito resource not found", extra={"cognitoError": code})
        if unauthorized_message == INVALID_CODE:
            return BadRequest(INVALID_CODE, code="INVALID_CODE")
        return Unauthorized(unauthorized_message)
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


def sign_in_attempts(email: str, address: str | None) -> Attempts:
    """The counters a guess at this account's password or code counts against."""
    return Attempts([(SIGN_IN_FROM, f"{email}\n{address or '-'}"), (SIGN_IN, email)])


class AuthService:
    def __init__(self, users: UserRepository):
        self.users = users

    def register(self, request: models.RegisterRequest) -> models.Registered:
        """A new account (201 with its id), or, for an email that has one, the same answer with an id that
        names nothing, and its holder is told: the caller learns nothing about who has an account."""
        idp = identity_provider()
        try:
            signed_up = self._sign_up(idp, request)
            if signed_up is not None and settings().auto_confirm_users and not signed_up.confirmed:
                # Local stack only: no mailbox to read the code from.
                idp.admin_confirm(signed_up.user_id)
        except ProviderError as exc:
            raise _cognito_failure(exc) from None
        if signed_up is None:
            return models.Registered(user_id=str(uuid.uuid4()))  # shaped as a pool's id (a UUID v4), naming no one
        user_id, moment = signed_up.user_id, iso()
        events = [envelope(UserRegistered(user_id=user_id), actor=user_id)]
        self.users.register(models.Profile(user_id=user_id, email=request.email, name=request.name,
                                           created_at=moment, updated_at=moment), events)
        announce(events)
        return models.Registered(user_id=user_id)

    def _sign_up(self, idp: IdentityProvider, request: models.RegisterRequest) -> SignedUp | None:
        """Sign up; None when the email already has an account that keeps it. An unconfirmed sign-up older than
        `unconfirmed_signup_hours` (its code has expired) no longer holds the email: this registration, with its
        own password, replaces it. A confirmed account's holder is told someone tried."""
        try:
            return idp.sign_up(request.email, request.password)
        except ProviderError as exc:
            if exc.code != "UsernameExistsException":
                raise
        existing = idp.find(request.email)
        if existing is None:  # removed in between: the email is free again
            return self._sign_up_once(idp, request)
        if existing.confirmed:
            # Its holder is told once a day at most, however often the email is registered (no mail bombing).
            day = now().date().isoformat()
            events = [envelope(SignUpRepeated(user_id=existing.user_id),
                               event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"SignUpRepeated:{existing.user_id}:{day}").hex)]
            try:
                self.users.keep_events(events)
            except EventAlreadyKept:
                return None  # told today already
            announce(events)
            return None
        if existing.created_at > now() - timedelta(hours=settings().unconfirmed_signup_hours):
            return None  # its code still runs: whoever holds the mailbox may confirm it
        idp.delete(existing.user_id)
        self.users.forget_unconfirmed(existing.user_id)
        get_logger("auth").info("an expired unconfirmed sign-up was replaced", extra={"userId": existing.user_id})
        return self._sign_up_once(idp, request)

    @staticmethod
    def _sign_up_once(idp: IdentityProvider, request: models.RegisterRequest) -> SignedUp | None:
        try:
            return idp.sign_up(request.email, request.password)
        except ProviderError as exc:
            if exc.code == "UsernameExistsException":  # another registration got there first: it keeps the email
                return None
            raise

    def confirm(self, request: models.ConfirmRequest) -> None:
        try:
            identity_provider().confirm_sign_up(request.email, request.code)
        except ProviderError as exc:
            raise _cognito_failure(exc, INVALID_CODE) from None

    def forgot_password(self, request: models.ForgotPasswordRequest) -> None:
        """Always accepted: whether the email has an account is not for the caller to learn."""
        try:
            identity_provider().forgot_password(request.email)
        except ProviderError as exc:
            if exc.code in ("UserNotFoundException", "InvalidParameterException", "NotAuthorizedException"):
                return
            raise _cognito_failure(exc) from None

    def reset_password(self, request: models.ResetPasswordRequest) -> None:
        try:
            identity_provider().confirm_forgot_password(request.email, request.code, request.password)
        except ProviderError as exc:
            raise _cognito_failure(exc, INVALID_CODE) from None

    def login(self, request: models.LoginRequest, address: str | None = None) -> models.LoginResult:
        """The tokens, or, for an account with TOTP on, the challenge to answer at POST /auth/mfa. An account
        (from `address`, or from anywhere) that failed too often answers 429 until its wait is over."""
        attempts = sign_in_attempts(request.email, address)
        attempts.check()
        try:
            signed_in = identity_provider().password_sign_in(request.email, request.password)
        except ProviderError as exc:
            if exc.code in _WRONG:
                attempts.failed()
            raise _cognito_failure(exc, BAD_CREDENTIALS) from None
        if isinstance(signed_in, Challenge) and signed_in.name == TOTP and signed_in.session:
            # The counters stay until the code is right too: a known password buys no more guesses at the code.
            return models.LoginResult(models.MfaChallenge(challenge=TOTP, session=signed_in.session))
        tokens = self._tokens(signed_in, refresh_token=None)
        attempts.succeeded()
        return models.LoginResult(tokens)

    def answer_mfa(self, request: models.MfaAnswer, address: str | None = None) -> models.Tokens:
        """The second step of a sign-in: the authenticator's code for the session /auth/login gave.
        A wrong code and a spent or expired session are both 401, as a wrong password is, and count as one."""
        attempts = sign_in_attempts(request.email, address)
        attempts.check()
        try:
            signed_in = identity_provider().answer_totp_challenge(request.email, request.session, request.code)
        except ProviderError as exc:
            if exc.code in _WRONG:
                attempts.failed()
            if exc.code in ("CodeMismatchException", "ExpiredCodeException"):
                raise Unauthorized(INVALID_CODE, code="INVALID_CODE") from None
            raise _cognito_failure(exc, "The sign-in session is invalid or has expired; sign in again.") from None
        tokens = self._tokens(signed_in, refresh_token=None)
        attempts.succeeded()
        return tokens

    # --- the second factor, for a signed-in user ------------------------------------------

    def start_totp(self, who: Caller, request: models.TotpSetupRequest) -> models.TotpSecret:
        """A new TOTP secret for the caller, to enter in an authenticator; it counts once verified."""
        token = self._own_access_token(who, request.access_token)
        try:
            secret = identity_provider().associate_totp(token)
        except ProviderError as exc:
            raise _mfa_failure(exc) from None
        label = quote(f"{TOTP_ISSUER}:{who.email or who.user_id}")
        uri = f"otpauth://totp/{label}?secret={secret}&issuer={quote(TOTP_ISSUER)}&algorithm=SHA1&digits=6&period=30"
        return models.TotpSecret(secret_code=secret, otpauth_uri=uri)

    def verify_totp(self, who: Caller, request: models.TotpVerifyRequest) -> None:
        """The authenticator's first code: proven, TOTP becomes the caller's second factor at every sign-in
        (announced: audited, and the holder told)."""
        token = self._own_access_token(who, request.access_token)
        idp = identity_provider()
        try:
            idp.verify_totp(token, request.code)
            idp.set_totp(token, enabled=True)
        except ProviderError as exc:
            raise _mfa_failure(exc) from None
        self._announce_mfa(who, enabled=True)

    def disable_mfa(self, who: Caller, request: models.MfaDisableRequest, address: str | None = None) -> None:
        """TOTP off, only for the holder of the account: the access token of the caller (Cognito checks it on the
        call that turns TOTP off), and a fresh sign-in with the password and the authenticator's current code
        (wrong ones count as sign-in failures). The password alone signs in again afterwards; the change is
        audited and the holder told. With TOTP already off, the password suffices and nothing changes."""
        token = self._own_access_token(who, request.access_token)
        email = who.email or getattr(self.users.get_profile(who.user_id), "email", None)
        if not email:
            raise Forbidden(REAUTHENTICATION_FAILED, code="REAUTHENTICATION_FAILED")
        attempts = sign_in_attempts(email.lower(), address)
        attempts.check()
        idp = identity_provider()
        try:
            signed_in = idp.password_sign_in(email, request.password)
            totp_on = isinstance(signed_in, Challenge) and signed_in.name == TOTP
            if totp_on:
                signed_in = idp.answer_totp_challenge(email, signed_in.session, request.code)
        except ProviderError as exc:
            if exc.code not in _WRONG:
                raise _cognito_failure(exc) from None
            attempts.failed()
            raise Forbidden(REAUTHENTICATION_FAILED, code="REAUTHENTICATION_FAILED") from None
        if not isinstance(signed_in, SignedIn):
            raise Forbidden("This account needs an action this API does not support.", code="CHALLENGE_REQUIRED")
        attempts.succeeded()
        if not totp_on:
            return
        try:
            idp.set_totp(token, enabled=False)
        except ProviderError as exc:
            raise _mfa_failure(exc) from None
        self._announce_mfa(who, enabled=False)

    def _announce_mfa(self, who: Caller, enabled: bool) -> None:
        events = [envelope(MfaChanged(user_id=who.user_id, enabled=enabled), actor=who.user_id)]
        try:
            self.users.keep_events(events, of_active=who.user_id)
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None
        announce(events)

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

    def refresh(self, request: models.RefreshRequest) -> models.Tokens:
        try:
            signed_in = identity_provider().refresh_sign_in(request.refresh_token)
        except ProviderError as exc:
            raise _cognito_failure(exc, "The refresh token is invalid or expired.") from None
        return self._tokens(signed_in, refresh_token=request.refresh_token)

    @staticmethod
    def _tokens(signed_in: SignedIn | Challenge | None, refresh_token: str | None) -> models.Tokens:
        if not isinstance(signed_in, SignedIn):  # a challenge (e.g. NEW_PASSWORD_REQUIRED) this API does not offer
            raise Forbidden("This account needs an action this API does not support.",
                            code="CHALLENGE_REQUIRED")
        # Cognito issues no new refresh token on refresh: the caller keeps theirs.
        return models.Tokens(id_token=signed_in.id_token, access_token=signed_in.access_token,
                             refresh_token=signed_in.refresh_token or refresh_token or "",
                             expires_in=signed_in.expires_in)
