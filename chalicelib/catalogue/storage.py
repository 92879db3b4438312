"""The images bucket: the only code that talks to S3 (presigned uploads, reading, publishing, deleting)."""
from __future__ import annotations

import os
from typing import Any

from chalicelib.catalogue import keys
from chalicelib.core.aws import client, error_code
from chalicelib.core.settings import settings

UPLOAD_SECONDS = 600  # a presigned upload is valid for 10 minutes
# Published objects never change (a new image gets a new id), so the CDN and browsers may keep them.
PUBLISHED_CACHE_CONTROL = "public, max-age=31536000, immutable"


def _s3() -> Any:
    return client("s3")


def _bucket() -> str:
    return settings().images_bucket


def sign_upload(key: str, content_type: str, content_length: int) -> dict[str, Any]:
    """A presigned POST admitting exactly one object: this key, this content type, exactly this many bytes.

    S3 refuses any other form (a different key, type or length, or after `UPLOAD_SECONDS`)."""
    return _s3().generate_presigned_post(
        Bucket=_bucket(), Key=key, Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", content_length, content_length]],
        ExpiresIn=UPLOAD_SECONDS)


def fetch(key: str, limit: int) -> tuple[bytes | None, int] | None:
    """An uploaded object's bytes and size (no bytes when it is larger than `limit`); None if it is gone."""
    try:
        answer = _s3().get_object(Bucket=_bucket(), Key=key)
    except Exception as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    size = int(answer.get("ContentLength", 0))
    if size > limit:
        answer["Body"].close()
        return None, size
    data = answer["Body"].read()
    return data, len(data)


def publish(path: str, data: bytes, content_type: str) -> None:
    """Write checked bytes below the published prefix, with their checked type and long-lived caching: the
    bytes in hand, never a copy of the upload, which a second POST through the same form may have replaced."""
    _s3().put_object(Bucket=_bucket(), Key=keys.PUBLISHED_PREFIX + path, Body=data, ContentType=content_type,
                     CacheControl=PUBLISHED_CACHE_CONTROL)


def delete(key: str) -> None:
    """Delete an object (deleting one that is gone is not an error: S3 answers the same)."""
    _s3().delete_object(Bucket=_bucket(), Key=key)


def public_url(path: str) -> str:
    """Where anyone reads a published image (`path` below the published prefix): the CDN in AWS
    (IMAGES_BASE_URL, the template binds it); locally the emulator's path-style URL of the published prefix,
    which it serves to anyone as CloudFront would."""
    base = settings().images_base_url
    if not base:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"https://s3.{settings().region}.amazonaws.com"
        base = f"{endpoint.rstrip('/')}/{_bucket()}/{keys.PUBLISHED_PREFIX.rstrip('/')}"
    return f"{base.rstrip('/')}/{path}"
