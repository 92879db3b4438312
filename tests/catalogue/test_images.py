"""Product images: a presigned POST straight to S3, checked by their bytes, then served to anyone.

The upload goes through the emulator exactly as a browser's would (the form S3 checks against
the policy its signer signed), S3's object-created event reaches the images queue through the
template's rule on the default bus, and the validator runs as its own role on what that queue holds.
"""
from __future__ import annotations

import struct
import zlib

import boto3
import pytest
import requests

from tests.fakes import ADMIN, CUSTOMER
from tests.shop import call, product

IMAGES_QUEUE = "shop-local-images"


def tiny_png(red: int = 255) -> bytes:
    """A valid 1x1 PNG of that red, built here (signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes([0, red, 0, 0])))
            + chunk(b"IEND", b""))


def request_upload(client, product_id, content_type="image/png", length=None, payload=None):
    return call(client, "post", f"/products/{product_id}/images",
                payload or {"contentType": content_type, "contentLength": length or len(tiny_png())}, ADMIN)


def post_file(upload: dict, data: bytes, **field_changes) -> requests.Response:
    """What a browser does with the answer: a multipart form, the signed fields first, then the file."""
    fields = {**upload["fields"], **field_changes}
    return requests.post(upload["url"], data=fields, files={"file": ("image", data)}, timeout=10)


def validate_uploads(client) -> dict:
    """The validator on whatever S3's events put on its queue, as Lambda's event source hands it over."""
    return received_uploads(client)()


def operator(service: str):
    """A client with the emulator's own keys: the test's, even inside a function's invocation."""
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def received_uploads(client):
    """What S3's events put on the images queue, taken off it; the validator runs on it when called."""
    sqs = operator("sqs")
    url = sqs.get_queue_url(QueueName=IMAGES_QUEUE)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert messages, "S3 announced no upload on the images queue"
    event = client.events.generate_sqs_event(message_bodies=[m["Body"] for m in messages], queue_name=IMAGES_QUEUE)
    for number, record in enumerate(event["Records"]):
        record["messageId"] = f"message-{number}"
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return lambda: {"answer": client.lambda_.invoke("validate_images", event).payload,
                    "bodies": [m["Body"] for m in messages]}


def objects(prefix: str) -> list[str]:
    from chalicelib.core.settings import settings

    found = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=settings().images_bucket,
                                                                        Prefix=prefix)
    return [item["Key"] for item in found.get("Contents", [])]


def test_a_real_png_uploaded_through_the_presigned_post_becomes_ready_and_is_served(client, bus):
    thing = product(client)
    started = request_upload(client, thing["id"])
    assert started.status_code == 201, started.body
    upload = started.json
    assert set(upload) == {"imageId", "upload", "expiresAt"}
    assert upload["upload"]["fields"]["Content-Type"] == "image/png"

    staff_view = call(client, "get", f"/products/{thing['id']}/images", headers=ADMIN).json["items"]
    assert [(i["id"], i["status"]) for i in staff_view] == [(upload["imageId"], "PENDING")]
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == []  # not public while pending

    posted = post_file(upload["upload"], tiny_png())
    assert posted.status_code == 204, posted.text
    validated = validate_uploads(client)
    assert validated["answer"] == {"batchItemFailures": []}

    shown = call(client, "get", f"/products/{thing['id']}").json["images"]
    assert len(shown) == 1 and shown[0]["status"] == "READY" and shown[0]["contentType"] == "image/png"
    served = requests.get(shown[0]["url"], timeout=10)  # anyone, unsigned: what the CDN serves
    assert served.status_code == 200 and served.content == tiny_png()
    assert served.headers["Content-Type"] == "image/png"
    assert objects("uploads/") == []  # moved, not copied
    added = bus.of_type("ProductImageAdded")
    assert [(e.data["imageId"], e.data["url"]) for e in added] == [(upload["imageId"], shown[0]["url"])]
    listed = call(client, "get", "/products?category=kitchen").json["items"]
    assert [p["images"] for p in listed if p["id"] == thing["id"]] == [shown]

    # The same notification again (SQS delivers at least once) changes nothing.
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=IMAGES_QUEUE)["QueueUrl"],
                     MessageBody=validated["bodies"][0])
    again = validate_uploads(client)
    assert again["answer"] == {"batchItemFailures": []}
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == shown
    assert len(bus.of_type("ProductImageAdded")) == 1
    assert requests.get(shown[0]["url"], timeout=10).content == tiny_png()


def test_a_fake_png_is_rejected_with_its_reason_and_deleted(client, bus):
    thing = product(client)
    fake = b"GIF89a" + b"\x00" * (len(tiny_png()) - 6)  # the declared length, not the declared type
    upload = request_upload(client, thing["id"]).json
    assert post_file(upload["upload"], fake).status_code == 204
    validate_uploads(client)

    staff_view = call(client, "get", f"/products/{thing['id']}/images", headers=ADMIN).json["items"]
    assert staff_view[0]["status"] == "REJECTED" and "not image/png" in staff_view[0]["reason"]
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == []
    assert objects("uploads/") == [] and objects("published/") == []
    assert bus.of_type("ProductImageAdded") == []


def test_s3_refuses_an_upload_that_is_not_what_was_signed(client):
    thing = product(client)
    upload = request_upload(client, thing["id"]).json["upload"]
    longer = post_file(upload, tiny_png() + b"\x00")
    assert longer.status_code == 400 and "EntityTooLarge" in longer.text
    other_type = post_file(upload, tiny_png(), **{"Content-Type": "image/jpeg"})
    assert other_type.status_code == 403 and "Policy Condition failed" in other_type.text
    other_key = post_file(upload, tiny_png(), key=f"published/{thing['id']}/forged.png")
    assert other_key.status_code == 403
    forged = post_file(upload, tiny_png(), policy=upload["fields"]["policy"][:-4] + "AAAA")
    assert forged.status_code == 403
    assert objects("") == []


@pytest.mark.parametrize("payload,status,where", [
    ({"contentType": "image/gif", "contentLength": 10}, 422, "contentType"),
    ({"contentType": "image/png", "contentLength": 5 * 1024 * 1024 + 1}, 422, "contentLength"),
    ({"contentType": "image/png", "contentLength": 0}, 422, "contentLength"),
    ({"contentType": "image/png"}, 422, "contentLength"),
])
def test_an_upload_outside_the_types_and_sizes_is_refused(client, payload, status, where):
    thing = product(client)
    answer = request_upload(client, thing["id"], payload=payload)
    assert answer.status_code == status, answer.body
    assert where in {d["field"] for d in answer.json["error"]["details"]}
    assert call(client, "get", f"/products/{thing['id']}/images", headers=ADMIN).json["items"] == []


def test_unknown_and_archived_products_take_no_images(client):
    assert request_upload(client, "no-such-product").status_code == 404
    thing = product(client)
    call(client, "delete", f"/products/{thing['id']}", headers=ADMIN)
    refused = request_upload(client, thing["id"])
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "PRODUCT_ARCHIVED")


def test_the_eleventh_image_is_refused_counting_pending_ones_and_a_deleted_one_frees_a_slot(client):
    thing = product(client)
    ids = [request_upload(client, thing["id"]).json["imageId"] for _ in range(10)]
    eleventh = request_upload(client, thing["id"])
    assert (eleventh.status_code, eleventh.json["error"]["code"]) == (409, "TOO_MANY_IMAGES")
    assert call(client, "delete", f"/products/{thing['id']}/images/{ids[0]}", headers=ADMIN).status_code == 204
    assert request_upload(client, thing["id"]).status_code == 201
    assert call(client, "delete", f"/products/{thing['id']}/images/{ids[0]}", headers=ADMIN).status_code == 404


def test_deleting_a_ready_image_removes_its_file_and_archived_products_keep_theirs(client, bus):
    thing = product(client)
    upload = request_upload(client, thing["id"]).json
    post_file(upload["upload"], tiny_png())
    validate_uploads(client)
    archived = call(client, "delete", f"/products/{thing['id']}", headers=ADMIN).json
    assert [i["status"] for i in archived["images"]] == ["READY"]
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == archived["images"]
    url = archived["images"][0]["url"]
    gone = call(client, "delete", f"/products/{thing['id']}/images/{upload['imageId']}", headers=ADMIN)
    assert gone.status_code == 204
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == []
    assert objects("published/") == []
    assert requests.get(url, timeout=10).status_code in (403, 404)


def test_customers_cannot_upload_or_delete_images(client):
    thing = product(client)
    assert call(client, "post", f"/products/{thing['id']}/images",
                {"contentType": "image/png", "contentLength": 10}, CUSTOMER).status_code == 403
    assert call(client, "delete", f"/products/{thing['id']}/images/x", headers=CUSTOMER).status_code == 403


def test_the_bytes_decide_the_type():
    from chalicelib.catalogue.images import sniff

    assert sniff(tiny_png()) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0" + b"\x00" * 8) == "image/jpeg"
    assert sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"RIFF\x10\x00\x00\x00AVI LIST") is None
    assert sniff(b"GIF89a") is None and sniff(b"") is None


def test_an_image_validated_between_a_removals_read_and_write_is_removed_as_it_is_now(client, bus, between):
    from chalicelib.catalogue.repository import ProductRepository

    thing = product(client)
    upload = request_upload(client, thing["id"]).json
    post_file(upload["upload"], tiny_png())
    raced = between(ProductRepository, "remove_image", received_uploads(client))
    gone = call(client, "delete", f"/products/{thing['id']}/images/{upload['imageId']}", headers=ADMIN)
    assert raced["ran"] and gone.status_code == 204
    assert call(client, "get", f"/products/{thing['id']}").json["images"] == []
    assert objects("published/") == [] and objects("uploads/") == []


# --- duplicate deliveries and a form posted twice ----------------------------------------------------

def _upload(client):
    thing = product(client)
    upload = request_upload(client, thing["id"]).json
    assert post_file(upload["upload"], tiny_png()).status_code == 204
    return thing, upload


def _served(client, thing):
    (image,) = call(client, "get", f"/products/{thing['id']}").json["images"]
    return image, requests.get(image["url"], timeout=10)


def test_two_validators_of_one_upload_at_once_leave_a_ready_image_whose_file_is_served(client, bus, between):
    """A duplicate delivery validated in full between this validation's check and its write: this one loses
    the write, and once deleted what the winner had published, leaving a READY image with no file."""
    from chalicelib.catalogue.repository import ProductRepository

    thing, upload = _upload(client)
    delivery = received_uploads(client)  # S3's one notification, delivered twice at once
    raced = between(ProductRepository, "settle_image", delivery)
    assert delivery()["answer"] == {"batchItemFailures": []} and raced["ran"]
    image, served = _served(client, thing)
    assert image["status"] == "READY" and served.status_code == 200 and served.content == tiny_png()
    assert len(objects("published/")) == 1 and objects("uploads/") == []
    assert len(bus.of_type("ProductImageAdded")) == 1


def test_bytes_posted_through_the_same_form_after_the_check_are_never_published(client, bus, between):
    """A second POST through the same form (same type, same length) between the check and the publication:
    the upload was copied as it then was, so unchecked bytes went out as the checked image."""
    from chalicelib.catalogue import keys, storage
    from chalicelib.core.settings import settings

    unchecked = b"\x89PNG\r\n\x1a\n" + b"\x00" * (len(tiny_png()) - 8)  # passes the head check, not an image
    thing, upload = _upload(client)
    delivery = received_uploads(client)
    between(storage, "publish", lambda: operator("s3").put_object(
        Bucket=settings().images_bucket, Key=keys.upload_key(thing["id"], upload["imageId"]), Body=unchecked))
    assert delivery()["answer"] == {"batchItemFailures": []}
    image, served = _served(client, thing)
    assert image["status"] == "READY" and served.content == tiny_png()


def test_a_validator_that_lost_to_other_bytes_removes_only_what_it_wrote(client, bus, between):
    """Two uploads through the same form, each validated: the first to be decided wins; the loser's own
    publication goes, the winner's stays."""
    from chalicelib.catalogue.repository import ProductRepository

    thing, upload = _upload(client)
    first = received_uploads(client)

    def second_upload_checked_and_decided_first():
        assert post_file(upload["upload"], tiny_png(red=7)).status_code == 204
        received_uploads(client)()

    between(ProductRepository, "settle_image", second_upload_checked_and_decided_first)
    assert first()["answer"] == {"batchItemFailures": []}
    image, served = _served(client, thing)
    assert image["status"] == "READY" and served.status_code == 200 and served.content == tiny_png(red=7)
    assert len(objects("published/")) == 1
