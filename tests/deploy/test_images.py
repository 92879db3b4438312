"""Product images in the prod stack after the SAM transform: the bucket, its CDN, the upload rule and the
validator, with every policy evaluated as AWS will (roles with the local IAM evaluator, the bucket's and the
queue's policies as resource policies)."""
from __future__ import annotations

import pytest

from local.iam import Decision, evaluate
from tools.template_checks import REGION, Deployed, admitted_sources, deploy, service_may

BUCKET = "shop-prod-images-123456789012-us-east-1"


@pytest.fixture(scope="module")
def deployed(packaged) -> Deployed:
    return deploy(packaged.expanded, "prod")


def _role_allows(deployed: Deployed, function: str, action: str, resource: str) -> bool:
    policies = deployed.role_policies(deployed.function_role(function))
    return evaluate(policies, action, resource) is Decision.ALLOWED


def test_the_bucket_is_private_encrypted_and_expires_abandoned_uploads(deployed):
    bucket = deployed.resources["ImagesBucket"]["Properties"]
    assert deployed.stack.refs["ImagesBucket"] == BUCKET
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (sse,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert "CorsConfiguration" not in bucket  # no origin given, none allowed (the shop's is a parameter)
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert (expiry["Prefix"], expiry["ExpirationInDays"], expiry["Status"]) == ("uploads/", 1, "Enabled")
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_the_bucket_answers_only_over_tls_and_only_the_distribution_reads_only_the_published_prefix(deployed):
    policy = deployed.resources["ImagesBucketPolicy"]["Properties"]
    assert policy["Bucket"] == BUCKET
    document = policy["PolicyDocument"]
    distribution = f"arn:aws:cloudfront::123456789012:distribution/{deployed.stack.refs['ImagesDistribution']}"
    tls = {"AWS:SourceArn": distribution, "aws:SecureTransport": "true"}
    published, upload = f"arn:aws:s3:::{BUCKET}/published/p/i.png", f"arn:aws:s3:::{BUCKET}/uploads/p/i"
    assert service_may(document, "cloudfront.amazonaws.com", "s3:GetObject", published, tls)
    assert not service_may(document, "cloudfront.amazonaws.com", "s3:GetObject", upload, tls)
    assert not service_may(document, "cloudfront.amazonaws.com", "s3:PutObject", published, tls)
    another = {**tls, "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/EOTHER"}
    assert not service_may(document, "cloudfront.amazonaws.com", "s3:GetObject", published, another)
    plain = {**tls, "aws:SecureTransport": "false"}
    assert not service_may(document, "cloudfront.amazonaws.com", "s3:GetObject", published, plain)
    deny = next(s for s in document["Statement"] if s["Effect"] == "Deny")
    assert deny["Principal"] == "*" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_distribution_serves_the_published_prefix_through_its_origin_access_control_cached_and_compressed(deployed):
    config = deployed.resources["ImagesDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == f"{BUCKET}.s3.{REGION}.amazonaws.com"
    assert origin["OriginPath"] == "/published"
    assert origin["OriginAccessControlId"] == deployed.stack.refs["ImagesOriginAccessControl"]
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity beside the OAC
    control = deployed.resources["ImagesOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"]) == ("s3", "always")
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["Compress"] is True and behaviour["CachePolicyId"]
    assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    variables = deployed.resources["ValidateImages"]["Properties"]["Environment"]["Variables"]
    domain = deployed.stack.attributes["ImagesDistribution"]["DomainName"]
    assert variables["IMAGES_BASE_URL"] == f"https://{domain}" and variables["IMAGES_BUCKET"] == BUCKET


def test_uploads_reach_the_validator_through_the_default_bus_and_its_queue(deployed):
    rule = deployed.resources["ImageUploadedRule"]["Properties"]
    assert "EventBusName" not in rule  # S3 announces on the default bus only
    assert rule["EventPattern"] == {"source": ["aws.s3"], "detail-type": ["Object Created"],
                                    "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "uploads/"}]}}}
    (target,) = rule["Targets"]
    assert target["Arn"] == deployed.arn("ImagesQueue") and target["DeadLetterConfig"]["Arn"] == deployed.arn("EventsDLQ")
    assert admitted_sources(deployed, "ImagesQueue", "events.amazonaws.com") == {deployed.arn("ImageUploadedRule")}
    (mapping,) = [m["Properties"] for m in deployed.of_type("AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["EventSourceArn"] == deployed.arn("ImagesQueue")]
    assert deployed.function_of(mapping["FunctionName"]) == "ValidateImages"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = deployed.resources["ImagesQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == deployed.arn("ImagesDLQ")
    timeout = deployed.resources["ValidateImages"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


UPLOAD, PUBLISHED = "uploads/p/i", "published/p/i.png"
# Each function's role on the bucket: (what it may do, what it may not).
BUCKET_ACCESS = {
    # The API signs uploads (a presigned POST is authorised as its signer) and removes images; nothing else.
    "APIHandler": ([("s3:PutObject", UPLOAD), ("s3:DeleteObject", PUBLISHED)],
                   [("s3:PutObject", PUBLISHED), ("s3:GetObject", UPLOAD), ("s3:PutObject", "elsewhere/x")]),
    # The validator reads and deletes uploads, and writes the published prefix.
    "ValidateImages": ([("s3:GetObject", UPLOAD), ("s3:DeleteObject", UPLOAD), ("s3:PutObject", PUBLISHED)],
                       [("s3:PutObject", UPLOAD), ("s3:GetObject", PUBLISHED), ("s3:ListBucket", "")]),
    # No other function touches the bucket.
    "CreateOrders": ([], [("s3:GetObject", UPLOAD)]),
    "Notify": ([], [("s3:PutObject", PUBLISHED)]),
}


@pytest.mark.parametrize("function,action,key,allowed", [
    (function, action, key, allowed) for function, (may, may_not) in BUCKET_ACCESS.items()
    for allowed, pairs in ((True, may), (False, may_not)) for action, key in pairs])
def test_each_role_reaches_only_the_prefixes_its_code_uses(deployed, function, action, key, allowed):
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{key}" if key else "")
    assert _role_allows(deployed, function, action, resource) is allowed


def test_the_validator_settles_images_with_their_events_and_has_its_alarms(deployed):
    table, bus = deployed.arn("ShopTable"), deployed.arn("ShopEventBus")
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"):
        assert _role_allows(deployed, "ValidateImages", action, table), action
    assert not _role_allows(deployed, "ValidateImages", "dynamodb:DeleteItem", table)
    assert _role_allows(deployed, "ValidateImages", "events:PutEvents", bus)
    alarms = deployed.of_type("AWS::CloudWatch::Alarm")
    errors = alarms["ValidateImagesErrorsAlarm"]["Properties"]
    assert (errors["MetricName"], errors["Dimensions"]) == (
        "Errors", [{"Name": "FunctionName", "Value": deployed.stack.refs["ValidateImages"]}])
    depth = alarms["ImagesDLQDepthAlarm"]["Properties"]
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": "shop-prod-images-dlq"}]
    function = deployed.resources["ValidateImages"]["Properties"]
    assert function["Architectures"] == ["arm64"] and function["MemorySize"] == 256
