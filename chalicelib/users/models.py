"""Wire models of the users domain: sign-up and sign-in, profiles, addresses, staff views."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, RootModel, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import ApiModel, PageQuery, PostalAddress, SchemaHint, Text, Timestamp

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email), SchemaHint(format="email")]
# Length only: a wrong password is Cognito's to judge, and its policy must not leak here.
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=256), SchemaHint(format="password")]


class LoginRequest(ApiModel):
    email: Email
    password: AnyPassword


class RefreshRequest(ApiModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class Tokens(ApiModel):
    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int = Field(ge=0)


# What Cognito issues and takes: a JWT (three base64url parts), a sign-in session, a TOTP code.
AccessToken = Annotated[str, StringConstraints(min_length=1, max_length=8192,
                                               pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*$")]
SignInSession = Annotated[str, StringConstraints(min_length=20, max_length=2048, pattern=r"^[A-Za-z0-9+/=_.\-]+$")]
TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$"), SchemaHint(maxLength=6)]


class MfaChallenge(ApiModel):
    """The password was right and the account has TOTP on: answer with POST /auth/mfa and this session."""

    challenge: Literal["SOFTWARE_TOKEN_MFA"]
    session: str


def _one_of(schema: dict, model: type) -> None:
    # A sign-in's answer is one shape or the other, never both: oneOf, not pydantic's anyOf.
    schema["oneOf"] = schema.pop("anyOf")


class LoginResult(RootModel):
    """What POST /auth/login answers: the tokens, or the second factor's challenge."""

    # The root declared here, not as RootModel[...]: a parametrised RootModel is a class of its own, built at
    # import (with Tokens and MfaChallenge) whatever this one defers.
    root: Tokens | MfaChallenge
    model_config = ConfigDict(json_schema_extra=_one_of, defer_build=True)


class MfaAnswer(ApiModel):
    email: Email
    session: SignInSession
    code: TotpCode


class TotpSetupRequest(ApiModel):
    """The caller's access token (from the same sign-in as the ID token they call with): Cognito's TOTP
    enrolment is authorised by it, not by the ID token."""

    access_token: AccessToken


class TotpSecret(ApiModel):
    """The secret to put in an authenticator app, also as a URI for a QR code."""

    secret_code: str
    otpauth_uri: str


class TotpVerifyRequest(ApiModel):
    access_token: AccessToken
    code: TotpCode


class MfaDisableRequest(ApiModel):
    """Proof that the holder of the account, not only of a token, turns TOTP off: the access token of a sign-in,
    the password and the authenticator's current code (checked by a fresh sign-in)."""

    access_token: AccessToken
    password: AnyPassword
    code: TotpCode


def claimed(model: type, value: object) -> object:
    """A token claim where it enters a profile, held to what the API itself would accept (an attribute set by
    calling Cognito directly is not validated there); None when it is not."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(model).validate_python(value) if isinstance(value, str) else None
    except ValidationError:
        return None


def _strong_password(value: str) -> str:
    """The pool's policy (SPEC §3), checked before Cognito is called."""
    problems = []
    if len(value) < 8:
        problems.append("at least 8 characters")
    if not any(c.isupper() for c in value):
        problems.append("an upper-case letter")
    if not any(c.islower() for c in value):
        problems.append("a lower-case letter")
    if not any(c.isdigit() for c in value):
        problems.append("a digit")
    if value != value.strip():
        problems.append("no leading or trailing spaces")
    if problems:
        raise ValueError("password needs " + ", ".join(problems))
    return value


NewPassword = Annotated[str, StringConstraints(max_length=256), AfterValidator(_strong_password), SchemaHint(
    format="password", minLength=8, pattern=r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])\S(.*\S)?$",
    description="At least 8 characters with an upper-case letter, a lower-case letter and a digit; "
                "no leading or trailing spaces (the user pool's policy).")]
ConfirmationCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16,
                                                    pattern=r"^[A-Za-z0-9]+$")]
PersonName = Text(100)


class RegisterRequest(ApiModel):
    email: Email
    password: NewPassword
    name: PersonName


class Registered(ApiModel):
    user_id: str


class ConfirmRequest(ApiModel):
    email: Email
    code: ConfirmationCode


class ForgotPasswordRequest(ApiModel):
    email: Email


class ResetPasswordRequest(ApiModel):
    email: Email
    code: ConfirmationCode
    password: NewPassword


UserStatus = Literal["ACTIVE", "SUSPENDED", "ERASED"]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9][0-9]{6,14}$"), SchemaHint(maxLength=16)]


class MarketingPreferences(ApiModel):
    email: bool = False
    sms: bool = False


class Profile(ApiModel):
    user_id: str
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    marketing: MarketingPreferences = Field(default_factory=MarketingPreferences)
    status: UserStatus = "ACTIVE"
    default_address_id: str | None = None
    address_count: int = 0
    created_at: str
    updated_at: str


class ProfileOut(ApiModel):
    """What a user sees of their own profile."""

    user_id: str
    email: str | None
    name: str | None
    phone: str | None
    marketing: MarketingPreferences
    status: UserStatus
    default_address_id: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ProfilePatch(ApiModel):
    """The only fields a user may change about themselves (everything else is refused)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})  # at least one (the validator below)
    # null is refused for name and marketing (see below), so the schema does not offer it
    name: PersonName | SkipJsonSchema[None] = None
    phone: Phone | None = None
    marketing: MarketingPreferences | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ProfilePatch:
        if not self.model_fields_set:
            raise ValueError("at least one of name, phone, marketing is required")
        for required in ("name", "marketing"):  # phone may be cleared with null; these may not
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


MAX_ADDRESSES = 10


class AddressIn(PostalAddress):
    is_default: bool = False


class Address(PostalAddress):
    id: str
    is_default: bool
    created_at: Timestamp
    updated_at: Timestamp


class UserStatusChange(ApiModel):
    status: Literal["ACTIVE", "SUSPENDED"]


class ErasureAccepted(ApiModel):
    """The answer to DELETE /me: the login is already disabled; the rest is being erased."""

    status: Literal["ERASING"] = "ERASING"
    message: str = ("Your login is disabled and your personal data is being erased; it is gone within minutes. "
                    "Orders are kept for the books without your name or address.")


class AdminUser(ApiModel):
    user_id: str
    email: str | None
    name: str | None
    status: UserStatus
    created_at: Timestamp
    updated_at: Timestamp


class UserListQuery(PageQuery):
    status: UserStatus | None = None
