"""Product images: presigned uploads straight to S3, validated by their bytes, published for the CDN.

An upload never passes through the API: staff get a presigned POST for one object (key, type and
exact length pinned), S3's object-created notification reaches the validator (S3 -> EventBridge ->
SQS, see docs/decisions.md), which checks the real type by the file's signature and publishes or
rejects it. The product item holds its images by id; every change is one conditional write on it.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.catalogue import keys, storage
from chalicelib.catalogue.events import ProductImageAdded
from chalicelib.catalogue.models import MAX_IMAGE_BYTES, ImageUpload, ImageUploadRequest
from chalicelib.catalogue.repository import ImageChanged, ImageRefused, ProductRepository
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.events import envelope
from chalicelib.core.ids import iso, new_id
from chalicelib.core.logs import get_logger
from chalicelib.core.messages import batch_response
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce

MAX_IMAGES = 10  # per product, counting those still being uploaded or checked
# What each accepted type's file starts with (WebP: "RIFF", four bytes of length, "WEBP").
SIGNATURES = {
    "image/jpeg": lambda head: head[:3] == b"\xff\xd8\xff",
    "image/png": lambda head: head[:8] == b"\x89PNG\r\n\x1a\n",
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
}

log = get_logger("images")


def sniff(head: bytes) -> str | None:
    """The image type a file's first bytes say it is, or None."""
    return next((content_type for content_type, matches in SIGNATURES.items() if matches(head)), None)


class ImageService:
    def __init__(self, products: ProductRepository):
        self.products = products

    def request_upload(self, product_id: str, request: ImageUploadRequest) -> ImageUpload:
        """A PENDING image and the presigned POST that uploads its file."""
        image_id = new_id()
        image = {"id": image_id, "content_type": request.content_type, "status": "PENDING",
                 "content_length": request.content_length, "created_at": iso()}
        try:
            self.products.add_image(product_id, image, MAX_IMAGES)
        except ImageRefused as refused:
            product = refused.as_was
            if product is None:
                raise NotFound(f"Product {product_id} was not found.") from None
            if product.status != "ACTIVE":
                raise Conflict("An archived product takes no new images.", code="PRODUCT_ARCHIVED") from None
            raise Conflict(f"A product has at most {MAX_IMAGES} images, counting those being uploaded; "
                           "delete one first.", code="TOO_MANY_IMAGES") from None
        # Signing is local (no call to S3): the key, type and length are pinned in the signed policy.
        signed = storage.sign_upload(keys.upload_key(product_id, image_id), request.content_type,
                                     request.content_length)
        expires = datetime.now(timezone.utc) + timedelta(seconds=storage.UPLOAD_SECONDS)
        return ImageUpload(image_id=image_id, upload=signed, expires_at=iso(expires))

    def remove(self, product_id: str, image_id: str) -> None:
        """Remove an image from its product, then its objects (an upload still pending is refused later)."""
        def read() -> dict[str, Any]:
            image = self.products.image_record(product_id, image_id)
            if image is None:
                raise NotFound(f"Image {image_id} of product {product_id} was not found.")
            return image

        def write(image: dict[str, Any]) -> dict[str, Any]:  # validated meanwhile: removed as it is now
            self.products.remove_image(product_id, image_id, image["status"])
            return image

        image = read_then_write(read, write, lost=ImageChanged, attempts=3, gave_up=lambda: Conflict(
            "The image is changing right now; try again.", code="CONCURRENT_CHANGE"))
        storage.delete(keys.upload_key(product_id, image_id))
        storage.delete(keys.PUBLISHED_PREFIX + _published_path(product_id, image_id, image))

    # --- the validator -----------------------------------------------------------------------

    def validate(self, object_key: str) -> str:
        """Check one uploaded object and publish or reject it. Returns what happened.

        Idempotent by object key: only a PENDING image is decided, so a redelivered notification (or a
        second upload through the same form) changes nothing; its object is deleted, as after any decision.
        The bytes published are the bytes checked, held in hand (never a copy of the upload, which a second
        POST may replace meanwhile), at a path named by them: a validator that loses a race to another (S3,
        EventBridge and SQS all deliver at least once) removes only what it wrote itself, never the winner's.
        """
        ids = keys.upload_of(object_key)
        if ids is None:
            return "ignored"  # not an upload of ours (the bucket's lifecycle expires it)
        product_id, image_id = ids
        image = self.products.image_record(product_id, image_id)
        if image is None or image["status"] != "PENDING":
            storage.delete(object_key)
            return "removed" if image is None else "already-" + image["status"].lower()
        found = storage.fetch(object_key, MAX_IMAGE_BYTES)
        if found is None:
            return "gone"  # deleted meanwhile; its notification is stale
        data, size = found
        reason = self._refusal(image, data[:16] if data else b"", size)
        if reason:
            try:
                self.products.settle_image(product_id, image_id, {"status": "REJECTED", "reason": reason}, [])
            except ImageChanged:
                pass
            storage.delete(object_key)
            log.info("image rejected", extra={"productId": product_id, "imageId": image_id, "why": reason})
            return "rejected"
        content_type = image["content_type"]
        path = keys.published_path(product_id, image_id, content_type, hashlib.sha256(data).hexdigest()[:32])
        storage.publish(path, data, content_type)
        url = storage.public_url(path)
        events = [envelope(ProductImageAdded(product_id=product_id, image_id=image_id, url=url,
                                             content_type=content_type), actor="image-validator")]
        try:
            self.products.settle_image(product_id, image_id, {"status": "READY", "url": url, "published_path": path},
                                       events)
        except ImageChanged:
            # Decided or removed while we checked it. What this validation wrote goes, unless the winner
            # published the very same bytes (the same path): then it is the winner's image.
            now = self.products.image_record(product_id, image_id)
            if now is None or now.get("published_path") != path:
                storage.delete(keys.PUBLISHED_PREFIX + path)
            if now is None:
                storage.delete(object_key)
                return "removed"
            return "already-" + now["status"].lower()
        announce(events)
        storage.delete(object_key)
        return "ready"

    @staticmethod
    def _refusal(image: dict[str, Any], head: bytes, size: int) -> str | None:
        if size > MAX_IMAGE_BYTES:
            return f"the file is larger than {MAX_IMAGE_BYTES} bytes"
        if size != image["content_length"]:
            return f"the file has {size} bytes, not the {image['content_length']} declared"
        actual = sniff(head)
        if actual != image["content_type"]:
            return f"the file is not {image['content_type']} ({'not an image we take' if not actual else actual})"
        return None


def _published_path(product_id: str, image_id: str, image: dict[str, Any]) -> str:
    """Where an image's published bytes are: the path its validation stored (the one before it: no digest)."""
    return image.get("published_path") or keys.published_path(product_id, image_id, image["content_type"])


def object_keys(body: str) -> list[str]:
    """The object keys an SQS message of the images queue names: an S3 "Object Created" event as the
    EventBridge rule delivers it."""
    event = json.loads(body)
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise ValueError(f"not an S3 object-created event: {event.get('source')} {event.get('detail-type')}")
    return [event["detail"]["object"]["key"]]


def validate_uploads(records: Any, service: ImageService) -> dict[str, list[dict[str, str]]]:
    """The validator's batch: each message on its own; a failing one is retried alone (then the DLQ)."""
    failures = []
    for record in records:
        try:
            for object_key in object_keys(record["body"]):
                outcome = service.validate(object_key)
                log.info("upload checked", extra={"key": object_key, "outcome": outcome,
                                                  "messageId": record["messageId"]})
        except Exception:
            log.exception("upload not checked; it will be retried", extra={"messageId": record["messageId"]})
            failures.append(record["messageId"])
    return batch_response(failures)
