"""The images bucket in the emulator, as the template declares it: private, encrypted, uploads announced
to the validator's queue through the template's rule on the default bus, the published prefix served as
the CDN serves it."""
from __future__ import annotations

import json
import urllib.error

import pytest

from local.bootstrap import load_template
from local.emulator import local_opener

DECLARED = load_template()["Resources"]["ImagesBucket"]["Properties"]


@pytest.fixture(scope="module")
def bucket(stack):
    return stack.refs["ImagesBucket"]


def test_the_bucket_is_private_encrypted_and_expires_abandoned_uploads(bucket, client_for):
    s3 = client_for("s3")
    assert bucket == "shop-local-images-123456789012-us-east-1"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == DECLARED["PublicAccessBlockConfiguration"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert encryption[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["Filter"]["Prefix"], rule["Expiration"]["Days"]) == ("uploads/", 1)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)  # the local stage is given no origin: no site may post uploads


def test_an_upload_reaches_the_images_queue_and_a_published_object_does_not(stack, bucket, client_for):
    s3, sqs = client_for("s3"), client_for("sqs")
    queue = stack.refs["ImagesQueue"]
    s3.put_object(Bucket=bucket, Key="published/p/i.png", Body=b"\x89PNG\r\n\x1a\n")
    s3.put_object(Bucket=bucket, Key="uploads/p/i", Body=b"\x89PNG\r\n\x1a\n")
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2, MaxNumberOfMessages=10).get("Messages", [])
    events = [json.loads(m["Body"]) for m in messages]
    assert [(e["source"], e["detail-type"], e["detail"]["bucket"]["name"], e["detail"]["object"]["key"])
            for e in events] == [("aws.s3", "Object Created", bucket, "uploads/p/i")]
    for message in messages:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_anyone_reads_the_published_prefix_and_nobody_reads_uploads_unsigned(emulator, bucket, client_for):
    s3 = client_for("s3")
    s3.put_object(Bucket=bucket, Key="published/p/served.png", Body=b"image", ContentType="image/png")
    s3.put_object(Bucket=bucket, Key="uploads/p/secret", Body=b"unchecked")
    with local_opener().open(f"{emulator.url}/{bucket}/published/p/served.png", timeout=5) as answer:
        assert answer.read() == b"image"
    with pytest.raises(urllib.error.HTTPError) as refused:
        local_opener().open(f"{emulator.url}/{bucket}/uploads/p/secret", timeout=5)
    assert refused.value.code == 403
