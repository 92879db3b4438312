"""The images bucket: the only code that talks to S3 (presigned uploads, reading, publishing, deleting)."""
from __future__ import annotations

import os
from typing import Any

from chalicelib.catalogue import keys
from chalicelib.core.aws import client, error_code
from chalicelib.core.settings import settings

UPLOAD_SECONDS = 600  # a presigned upload is valid for 10 minutes
HEAD_BYTES = 16  # enough for every signature we check (WebP's is at bytes 8-11)
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


def head_of(key: str) -> tuple[bytes, int] | None:
    """The first bytes of an uploaded object and its whole size; None if it is gone."""
    try:
        answer = _s3().get_object(Bucket=_bucket(), Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")
    except Exception as exc:
        if error_code(exc) == "InvalidRange":  # an empty object has no first byte
            return b"", 0
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    head = answer["Body"].read()
    total = answer.get("ContentRange", "").rpartition("/")[2]
    return head, int(total) if total.isdigit() else int(answer.get("ContentLength", len(head)))


def publish(upload: str, product_id: str, image_id: str, content_type: str) -> None:
    """Copy an upload to the published prefix, with the checked type and long-lived caching."""
    _s3().copy_object(Bucket=_bucket(), Key=keys.PUBLISHED_PREFIX + keys.published_path(product_id, image_id,
                                                                                         content_type),
                      CopySource={"Bucket": _bucket(), "Key": upload}, MetadataDirective="REPLACE",
                      ContentType=content_type, CacheControl=PUBLISHED_CACHE_CONTROL)


def delete(key: str) -> None:
    """Delete an object (deleting one that is gone is not an error: S3 answers the same)."""
    _s3().delete_object(Bucket=_bucket(), Key=key)


def public_url(product_id: str, image_id: str, content_type: str) -> str:
    """Where anyone reads a published image: the CDN in AWS (IMAGES_BASE_URL, the template binds it); locally
    the emulator's path-style URL of the published prefix, which it serves to anyone as CloudFront would."""
    base = settings().images_base_url
    if not base:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"https://s3.{settings().region}.amazonaws.com"
        base = f"{endpoint.rstrip('/')}/{_bucket()}/{keys.PUBLISHED_PREFIX.rstrip('/')}"
    return f"{base.rstrip('/')}/{keys.published_path(product_id, image_id, content_type)}"
