"""Wire models for authentication."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from chalicelib.core.models import ApiModel

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
# Length only: a wrong password is Cognito's to judge, and its policy must not leak here.
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=256)]


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
