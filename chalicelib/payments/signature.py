"""Webhook signatures: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
from __future__ import annotations

import hashlib
import hmac
import re
import time

TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 1024
# The only shapes a provider sends: ASCII digits (no sign, no separators, no other scripts' digits) and
# lower-case hex. Anything else is refused before it is converted or compared.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    pass


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a provider sends (used by tests and local tooling)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise SignatureError unless the header signs exactly this body, recently. Any other header value,
    whatever its characters or length, raises SignatureError too."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("missing signature")
    parts: dict[str, list[str]] = {}
    for piece in header.split(","):
        name, _, value = piece.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]):
        raise SignatureError("malformed signature")
    now = time.time() if now is None else now
    if abs(now - int(stamps[0])) > TOLERANCE_SECONDS:
        raise SignatureError("signature timestamp outside the tolerance")
    # Signed as sent: "<t>.<raw body>".
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest().encode()
    # Several v1 values are allowed while a provider rotates its secret; compare in constant time.
    candidates = [value.encode() for value in parts.get("v1", []) if _DIGEST.fullmatch(value)]
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature mismatch")
