"""Write .chalice/resources.json, the CloudFormation merge template (`make template`).

Everything the shop needs beyond what Chalice generates lives here: the table, the bus and
its archive, rules with retries and dead-letter queues, queues with redrive, the user pool,
log groups, alarms (to a topic under the stack's own key) and a dashboard, the API stage's
access logs and throttling (tighter on the sign-in and webhook routes), its WAF web ACL, the
key that signs pagination cursors, and the product images' bucket, its CDN and its upload rule. It also bridges what Chalice cannot express: SQS sources reporting
partial batch failures, bus rules on the project's own bus, the authorizer bound to the pool,
CORS on gateway errors. The local stack creates its resources from the same file.

A resource that knowingly breaks a lint rule says so in its metadata (`LINT_EXCEPTIONS`), with
the reason; `tools/package.py` writes the same metadata onto what the SAM transform generates.
"""
from __future__ import annotations

import json
import pathlib

from chalicelib.notifications import NOTIFIED_EVENTS

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / ".chalice" / "resources.json"

# Chalice's logical id of every function app.py defines -> (its name in app.py and config.json,
# its deployed name). The policy files and the local stack use the same table.
FUNCTIONS = {
    "APIHandler": ("api_handler", "shop-${Stage}"),
    "CreateOrders": ("create_orders", "shop-${Stage}-create_orders"),
    "RecordAudit": ("record_audit", "shop-${Stage}-record_audit"),
    "EraseUsers": ("erase_users", "shop-${Stage}-erase_users"),
    "Notify": ("notify", "shop-${Stage}-notify"),
    "Housekeeping": ("housekeeping", "shop-${Stage}-housekeeping"),
    "ValidateImages": ("validate_images", "shop-${Stage}-validate_images"),
    "PaymentProvider": ("payment_provider", "shop-${Stage}-payment_provider"),
}
# Where each asynchronously invoked function's failed invocations go (Lambda on-failure destinations).
FAILURE_QUEUES = {"Housekeeping": "HousekeepingDLQ"}
CONSUMER_TIMEOUT = 30  # seconds: create_orders', notify's and payment_provider's timeout (config.json); queues wait 6x that
ERASER_TIMEOUT = 60  # seconds: erase_users' timeout (config.json); an erasure that needs longer continues itself
VALIDATOR_TIMEOUT = 30  # seconds: validate_images' timeout (config.json)
QUEUES = {"Orders": ("orders", "CreateOrders", "CreateOrdersSqsEventSource"),
          "Audit": ("audit", "RecordAudit", "RecordAuditSqsEventSource"),
          "Erasures": ("erasures", "EraseUsers", "EraseUsersSqsEventSource"),
          "Images": ("images", "ValidateImages", "ValidateImagesSqsEventSource"),
          "Notify": ("notify", "Notify", "NotifySqsEventSource"),
          "Payments": ("payments", "PaymentProvider", "PaymentProviderSqsEventSource")}
DLQS = ["OrdersDLQ", "AuditDLQ", "ErasuresDLQ", "EventsDLQ", "NotifyDLQ", "HousekeepingDLQ", "AlarmsDLQ",
        "ImagesDLQ", "PaymentsDLQ"]
# Bus rules of the merge template: logical id -> (name, event pattern, target queue). Every consumer of the
# shop's bus reads a queue one of them fills: Chalice's own rules (on_cw_event) know only the default bus.
RULES = {
    "CheckoutRequestedRule": ("checkout-requested", {"source": ["shop"], "detail-type": ["CheckoutRequested"]},
                              "OrdersQueue"),
    "AuditRule": ("audit-everything", {"source": ["shop"]}, "AuditQueue"),
    "UserErasedRule": ("user-erased", {"source": ["shop"], "detail-type": ["UserErased"]}, "ErasuresQueue"),
    "NotifyRule": ("notify", {"source": ["shop"], "detail-type": list(NOTIFIED_EVENTS)}, "NotifyQueue"),
    # The payment provider's side of what the shop decided: a refund to pay back, an order cancelled unpaid.
    "PaymentsRule": ("payments", {"source": ["shop"], "detail-type": ["RefundRequested", "OrderCancelled"]},
                     "PaymentsQueue"),
}
# Rules on the account's default bus, where S3 announces objects: logical id -> (name, target queue).
S3_RULES = {"ImageUploadedRule": ("image-uploaded", "ImagesQueue")}
# Images: where uploads land (unchecked, expired after a day) and what the CDN serves (origin path).
UPLOADS_PREFIX, PUBLISHED_PREFIX = "uploads/", "published/"
# CloudFront's managed cache policy "CachingOptimized" (gzip and brotli, a day by default, no cookies or query).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# Rules the SAM transform generates from the functions' events: function -> (event, rule name, on the shop's bus).
# They are named so that queue policies can name them before they exist (and the local stack can resolve them),
# and named as `chalice deploy` names its own (<app>-<stage>-<function>-event), so one policy admits either.
FUNCTION_RULES = {"Housekeeping": ("HousekeepingEvent", "housekeeping-event", False)}
# Routes API Gateway throttles more tightly than the stage: the sign-in routes send Cognito emails and draw on
# the account's Cognito quotas; the webhook is open to anyone who can reach it (its signature is checked after).
AUTH_ROUTES = ("/auth/register", "/auth/confirm", "/auth/login", "/auth/mfa", "/auth/refresh", "/auth/forgot-password",
               "/auth/reset-password")
WEBHOOK_ROUTES = ("/webhooks/payments", "/webhooks/stripe")
# The sign-in routes as WAF sees the path: after the stage's name (execute-api URL) or not (custom domain).
AUTH_PATHS = "^(/[^/]+)?/auth/"
# Functions whose cold start a customer waits for: published versions behind the LIVE_ALIAS alias, restored
# from a SnapStart snapshot (or kept warm by provisioned concurrency, the API only); the API integration,
# its invoke permission and the queue's event source mapping point at the alias (tools/package.py, SAM).
LIVE_ALIAS = "live"
SNAPSTART_FUNCTIONS = {"APIHandler": "SnapStartsApi", "CreateOrders": "SnapStarts"}
# How CodeDeploy moves the live alias to a new version: in prod a tenth of the traffic for ten minutes (two of the
# alarms' five-minute periods), rolled back if one of the function's rollback alarms fires; elsewhere all at once.
CANARY = "Canary10Percent10Minutes"
ROLLBACK_ALARMS = {"APIHandler": ("Api5xxAlarm", "ApiLatencyAlarm", "APIHandlerErrorsAlarm"),
                   "CreateOrders": ("CreateOrdersErrorsAlarm",)}
# Parameter defaults `make package` writes per stage where the production default does not fit.
STAGE_DEFAULTS = {"dev": {"EnableWaf": "false", "EnableSnapStart": "false"}}
# Rules whose failed deliveries EventBridge parks in EventsDLQ: every rule that feeds a queue. The schedule keeps the
# target Chalice makes in both ways of deploying (a `chalice deploy` puts it back bare each time): a missed tick is
# redone by the next, and HousekeepingStoppedAlarm sees a schedule that stopped reaching the sweeper at all.
EVENTS_DLQ_RULES = list(RULES) + list(S3_RULES)

_DLQ_REASON = "a dead-letter queue is the last stop: its depth alarm calls for inspection (and redrive, tools.ops)"
# Logical id (in the template or in what the SAM transform makes of it) -> {rule: why it does not apply}.
LINT_EXCEPTIONS: dict[str, dict[str, str]] = {
    **{dlq: {"ES6000": _DLQ_REASON} for dlq in DLQS},
    **{logical: {"WS1004": "its log group (with retention) is bound by LoggingConfig; the rule only "
                           "recognises log group names that reference the function"} for logical in FUNCTIONS},
    **{f"{function}{source}": {"ES1001": f"SQS sources take no on-failure destination: failed messages "
                                         f"redrive to the queue's dead-letter queue ({queue}DLQ)"}
       for queue, (_, function, source) in QUEUES.items()},
}
_SCHEDULE_REASON = ("a scheduled tick that fails is redone by the next one; a schedule that stops reaching the function "
                    "raises its stopped alarm, which also sees a disabled rule (a dead-letter queue would not)")
for _function, (_event, _, _) in FUNCTION_RULES.items():  # the function (its event, as written) and SAM's rule
    for _logical in (_function, f"{_function}{_event}"):
        LINT_EXCEPTIONS[_logical] = {**LINT_EXCEPTIONS.get(_logical, {}), "ES4000": _SCHEDULE_REASON}


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def ref(name: str) -> dict:
    return {"Ref": name}


def arn(name: str) -> dict:
    return {"Fn::GetAtt": [name, "Arn"]}


ALARM_TOPIC_ARN = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:shop-${Stage}-alarms"
ALARMS_ARN = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
API_GATEWAY_LOGS_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def lint_exceptions(logical: str) -> dict:
    """The metadata that tells cfn-lint which rules do not apply to a resource, and why."""
    reasons = LINT_EXCEPTIONS.get(logical)
    if not reasons:
        return {}
    return {"Metadata": {"cfn-lint": {"config": {"ignore_checks": sorted(reasons)}, "reasons": reasons}}}


def rule_arn(logical: str) -> dict:
    """A bus rule's ARN, by reference where the rule is ours, by name where the SAM transform makes it."""
    if logical in RULES or logical in S3_RULES:
        return arn(logical)
    _, name, on_bus = next(v for f, v in FUNCTION_RULES.items() if f"{f}{v[0]}" == logical)
    bus = "shop-${Stage}/" if on_bus else ""
    return sub(f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{bus}shop-${{Stage}}-{name}")


def table() -> dict:
    indexes = [{"IndexName": f"GSI{i}", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": f"GSI{i}PK", "KeyType": "HASH"},
                              {"AttributeName": f"GSI{i}SK", "KeyType": "RANGE"}]} for i in (1, 2, 3)]
    attributes = ["PK", "SK"] + [f"GSI{i}{k}" for i in (1, 2, 3) for k in ("PK", "SK")]
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": sub("shop-${Stage}"), "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                "GlobalSecondaryIndexes": indexes,
                "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "DeletionProtectionEnabled": {"Fn::If": ["IsProd", True, False]}}}


def queue(name: str, dlq: str, visibility: int) -> dict:
    return {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": sub(f"shop-${{Stage}}-{name}"), "VisibilityTimeout": visibility, "SqsManagedSseEnabled": True,
        "RedrivePolicy": {"deadLetterTargetArn": arn(dlq), "maxReceiveCount": 5}}}


def dead_letter_queue(logical: str, name: str) -> dict:
    return {"Type": "AWS::SQS::Queue", **lint_exceptions(logical), "Properties": {
        "QueueName": sub(f"shop-${{Stage}}-{name}"), "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}


def rule(name: str, pattern: dict, queue_logical: str) -> dict:
    return {"Type": "AWS::Events::Rule", "Properties": {
        "Name": sub(f"shop-${{Stage}}-{name}"), "EventBusName": ref("ShopEventBus"), "EventPattern": pattern,
        "State": "ENABLED",
        "Targets": [{"Id": queue_logical, "Arn": arn(queue_logical),
                     "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                     "DeadLetterConfig": {"Arn": arn("EventsDLQ")}}]}}


def queue_policy(queue: str, sid: str, service: str, sources: list) -> dict:
    """One queue's policy: `service` may send to it on behalf of exactly `sources` (a queue holds one policy)."""
    return {"Type": "AWS::SQS::QueuePolicy", "Properties": {
        "Queues": [ref(queue)],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Allow", "Principal": {"Service": service},
            "Action": "sqs:SendMessage", "Resource": arn(queue),
            "Condition": {"ArnEquals": {"aws:SourceArn": sources}}}]}}}


def queue_policies() -> dict:
    result = {f"{target}Policy": queue_policy(target, "BusRulesMayDeliver", "events.amazonaws.com",
                                              [rule_arn(r) for r, (_, _, t) in RULES.items() if t == target])
              for target in dict.fromkeys(t for _, _, t in RULES.values())}
    for logical, (_, target) in S3_RULES.items():
        result[f"{target}Policy"] = queue_policy(target, "S3EventsMayDeliver", "events.amazonaws.com",
                                                 [rule_arn(logical)])
    result["EventsDLQPolicy"] = queue_policy("EventsDLQ", "UndeliveredEventsMayPark", "events.amazonaws.com",
                                             [rule_arn(r) for r in EVENTS_DLQ_RULES])
    result["AlarmsDLQPolicy"] = queue_policy("AlarmsDLQ", "UndeliveredAlarmsMayPark", "sns.amazonaws.com",
                                             [sub(ALARM_TOPIC_ARN)])
    return result


def user_pool() -> dict:
    return {
        "UserPool": {"Type": "AWS::Cognito::UserPool", "Properties": {
            "UserPoolName": sub("shop-${Stage}"), "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "UsernameConfiguration": {"CaseSensitive": False},
            "Policies": {"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
                                            "RequireNumbers": True, "RequireSymbols": False,
                                            "TemporaryPasswordValidityDays": 7}},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "Schema": [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                       {"Name": "name", "AttributeDataType": "String", "Required": False, "Mutable": True}],
            # A new email takes effect once its code is confirmed; until then the verified one stays the login.
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "MfaConfiguration": "OPTIONAL", "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            # Threat protection needs the Plus feature plan; off, the pool keeps the default plan.
            "UserPoolTier": {"Fn::If": ["HasThreatProtection", "PLUS", ref("AWS::NoValue")]},
            "UserPoolAddOns": {"Fn::If": ["HasThreatProtection", {"AdvancedSecurityMode": ref("ThreatProtectionMode")},
                                          ref("AWS::NoValue")]},
            "DeletionProtection": {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}}},
        "UserPoolClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
            "UserPoolId": ref("UserPool"), "ClientName": sub("shop-${Stage}-web"), "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED", "EnableTokenRevocation": True,
            # Anyone holding the client id (every token's `aud`) may call Cognito directly: let them write no
            # attribute but the email (verified before it applies); the name lives in the profile, validated.
            "WriteAttributes": ["email"],
            "IdTokenValidity": 60, "AccessTokenValidity": 60, "RefreshTokenValidity": 30,
            "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"}}},
        "AdminGroup": {"Type": "AWS::Cognito::UserPoolGroup", "Properties": {
            "UserPoolId": ref("UserPool"), "GroupName": "admin", "Description": "Shop staff"}},
    }


# Settings only some functions get: the payment provider's keys reach the two functions that talk to it.
FUNCTION_ENVIRONMENT = {logical: {"STRIPE_SECRET": ref("StripeSecret")} for logical in ("APIHandler", "PaymentProvider")}


def function_overrides() -> dict:
    env = {"TABLE_NAME": ref("ShopTable"), "EVENT_BUS_NAME": ref("ShopEventBus"),
           "USER_POOL_ID": ref("UserPool"), "USER_POOL_CLIENT_ID": ref("UserPoolClient"),
           # The pool the API's authorizer names: `chalice deploy` reads it from the stage's environment
           # (chalicelib/core/http.py); the packaged definition binds the same pool by reference.
           "USER_POOL_ARN": arn("UserPool"),
           "ORDERS_QUEUE_NAME": {"Fn::GetAtt": ["OrdersQueue", "QueueName"]},
           "AUDIT_QUEUE_NAME": {"Fn::GetAtt": ["AuditQueue", "QueueName"]},
           "ERASURES_QUEUE_NAME": {"Fn::GetAtt": ["ErasuresQueue", "QueueName"]},
           "IMAGES_QUEUE_NAME": {"Fn::GetAtt": ["ImagesQueue", "QueueName"]},
           "NOTIFY_QUEUE_NAME": {"Fn::GetAtt": ["NotifyQueue", "QueueName"]},
           "IMAGES_BUCKET": ref("ImagesBucket"), "IMAGES_BASE_URL": sub("https://${ImagesDistribution.DomainName}"),
           "LOG_LEVEL": {"Fn::If": ["IsProd", "INFO", "DEBUG"]},
           "SEND_EMAIL": {"Fn::If": ["SendsEmail", "true", "false"]}, "EMAIL_SENDER": ref("EmailSender"),
           "CURSOR_KEY_SECRET": ref("CursorKey"),
           "PAYMENTS_QUEUE_NAME": {"Fn::GetAtt": ["PaymentsQueue", "QueueName"]},
           # Where the stage traces, spans leave over OTLP/HTTP for the collector extension (OtelCollectorLayerArn),
           # which sends them on to X-Ray after the invocation answers.
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
    resources: dict = {}
    for logical, (_, name) in FUNCTIONS.items():
        # LoggingConfig binds the function to its log group, so the group (with its retention) exists first.
        resources[logical] = {**lint_exceptions(logical), "Properties": {
            "FunctionName": sub(name), "Environment": {"Variables": {**env, **FUNCTION_ENVIRONMENT.get(logical, {})}},
            "LoggingConfig": {"LogGroup": ref(f"{logical}LogGroup")},
            "Layers": {"Fn::If": ["HasOtelCollector", [ref("OtelCollectorLayerArn")], ref("AWS::NoValue")]}}}
    for queue_name, (_, function, source) in QUEUES.items():
        resources[function]["Properties"]["Events"] = {source: {"Properties": {
            "Queue": arn(f"{queue_name}Queue"), "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    # The schedule as Chalice's deploy makes it too: named alike, its target bare (EVENTS_DLQ_RULES says why).
    names = {function: sub(f"shop-${{Stage}}-{name}") for function, (_, name, _) in FUNCTION_RULES.items()}
    resources["Housekeeping"]["Properties"]["Events"] = {"HousekeepingEvent": {"Properties": {
        "Name": names["Housekeeping"]}}}
    # An invocation that fails lands in the function's failure queue, not retried: the next tick a minute
    # later redoes whatever the failed sweep left.
    retries = {"Housekeeping": (0, 300)}
    for logical, queue_logical in FAILURE_QUEUES.items():
        attempts, max_age = retries[logical]
        resources[logical]["Properties"]["EventInvokeConfig"] = {
            "MaximumRetryAttempts": attempts, "MaximumEventAgeInSeconds": max_age,
            "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": arn(queue_logical)}}}
    resources["Housekeeping"]["Properties"]["ReservedConcurrentExecutions"] = 1
    # A flood of API requests stops at the API's own share, never at create_orders' (config.json sets none:
    # a parameter of the stack, 0 leaving the API on the account's unreserved pool).
    resources["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] = {
        "Fn::If": ["ReservesApiConcurrency", ref("ApiReservedConcurrency"), ref("AWS::NoValue")]}
    # SnapStart snapshots each published version (SAM publishes one whenever a property changes); provisioned
    # concurrency and SnapStart exclude each other, so the API snapshots only while it provisions none.
    for logical, condition in SNAPSTART_FUNCTIONS.items():
        resources[logical]["Properties"].update({
            "AutoPublishAlias": LIVE_ALIAS, "AutoPublishAliasAllProperties": True, "VersionDeletionPolicy": "Delete",
            "SnapStart": {"ApplyOn": {"Fn::If": [condition, "PublishedVersions", "None"]}},
            "DeploymentPreference": {"Type": {"Fn::If": ["IsProd", CANARY, "AllAtOnce"]},
                                     "Alarms": [ref(alarm) for alarm in ROLLBACK_ALARMS[logical]],
                                     "Role": arn("CodeDeployRole")}})
    resources["APIHandler"]["Properties"]["ProvisionedConcurrencyConfig"] = {
        "Fn::If": ["ProvisionsApiConcurrency", {"ProvisionedConcurrentExecutions": ref("ApiProvisionedConcurrency")},
                   ref("AWS::NoValue")]}
    # API Gateway invokes the alias, so it is the alias it must be allowed to invoke.
    resources["APIHandlerInvokePermission"] = {"Properties": {"FunctionName": ref("APIHandler.Alias")}}
    resources["RestAPI"] = {"Properties": {
        "DefinitionBody": {
            "securityDefinitions": {"ShopUsers": {"x-amazon-apigateway-authorizer": {"providerARNs": [arn("UserPool")]}}},
            # In the definition rather than as GatewayResponse resources: a new definition body replaces
            # the API's whole configuration, and would drop responses declared beside it.
            "x-amazon-apigateway-gateway-responses": gateway_responses()},
        "AccessLogSetting": {"DestinationArn": arn("ApiAccessLogGroup"), "Format": json.dumps(ACCESS_LOG_FORMAT)},
        "MethodSettings": method_settings()}}
    return resources


def method_path(route: str) -> str:
    """A route as MethodSettings' ResourcePath names it: each `/` of the path escaped as `~1`."""
    return "/" + route.replace("/", "~1")


def method_settings() -> list[dict]:
    """Throttling of the whole stage, then tighter limits on the sign-in routes and the webhooks."""
    def throttled(path: str, method: str, prefix: str) -> dict:
        return {"ResourcePath": path, "HttpMethod": method,
                "ThrottlingRateLimit": ref(f"{prefix}ThrottlingRateLimit"),
                "ThrottlingBurstLimit": ref(f"{prefix}ThrottlingBurstLimit")}
    return ([throttled("/*", "*", "Api")]
            + [throttled(method_path(route), "POST", "Auth") for route in AUTH_ROUTES]
            + [throttled(method_path(route), "POST", "Webhook") for route in WEBHOOK_ROUTES])


def web_acl() -> dict:
    """The stage's WAF: a rate limit per client address, then AWS's common and known-bad-inputs rule groups.

    A request over the rate is answered 429 in the API's error shape (WAF cannot know API Gateway's
    request id, so it is null); the managed groups' blocks keep WAF's own 403 (a custom answer would mean
    overriding each of their rules by name, and a rule AWS adds later would escape it), except the common
    set's body-size rule, which only counts: the API's size limit and its 413 are the app's.
    """
    def visibility(metric: str) -> dict:
        return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": sub(metric)}

    def managed(name: str, priority: int, counted: tuple[str, ...] = ()) -> dict:
        statement: dict = {"VendorName": "AWS", "Name": name}
        if counted:  # these rules only count (metrics, samples); the group's others still block
            statement["RuleActionOverrides"] = [{"Name": rule, "ActionToUse": {"Count": {}}} for rule in counted]
        return {"Name": name, "Priority": priority, "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": statement},
                "VisibilityConfig": visibility(f"shop-${{Stage}}-{name}")}

    too_many = json.dumps({"error": {"code": "TOO_MANY_REQUESTS",
                                     "message": "Too many requests from this address; try again later."},
                           "requestId": None}, separators=(",", ":"))
    def rate_per_ip(name: str, priority: int, limit: str, metric: str, scope: dict | None = None) -> dict:
        statement = {"Limit": ref(limit), "AggregateKeyType": "IP", "EvaluationWindowSec": 300}
        if scope:
            statement["ScopeDownStatement"] = scope
        return {"Name": name, "Priority": priority, "Statement": {"RateBasedStatement": statement},
                "Action": {"Block": {"CustomResponse": {
                    "ResponseCode": 429, "CustomResponseBodyKey": "too-many-requests",
                    "ResponseHeaders": [{"Name": "Retry-After", "Value": "300"},
                                        {"Name": "X-Content-Type-Options", "Value": "nosniff"}]}}},
                "VisibilityConfig": visibility(metric)}

    # The sign-in routes get a budget of their own per address, well below what one route's throttle admits at
    # once: one client hammering /auth/login is stopped here and cannot empty the bucket everyone shares.
    # The path is matched with or without the stage's name in front (execute-api URL or custom domain).
    auth = {"RegexMatchStatement": {"RegexString": AUTH_PATHS, "FieldToMatch": {"UriPath": {}},
                                    "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    rates = [rate_per_ip("AuthRatePerIp", 0, "WafAuthRateLimit", "shop-${Stage}-auth-rate-per-ip", auth),
             rate_per_ip("RatePerIp", 1, "WafRateLimit", "shop-${Stage}-rate-per-ip")]
    stage = "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/${RestAPI.Stage}"
    return {
        "WebAcl": {"Type": "AWS::WAFv2::WebACL", "Condition": "HasWaf", "Properties": {
            "Name": sub("shop-${Stage}"), "Scope": "REGIONAL", "DefaultAction": {"Allow": {}},
            "Description": "Rate limits per client address on sign-in routes and on all requests, AWS common "
                           "and known-bad-inputs rules",
            "CustomResponseBodies": {"too-many-requests": {"ContentType": "APPLICATION_JSON", "Content": too_many}},
            # SizeRestrictions_BODY blocks bodies over 8 KB with a plain 403; counted, the app's 64 KB limit
            # answers them (413 PAYLOAD_TOO_LARGE, or the request when it is within the limit).
            "Rules": [*rates, managed("AWSManagedRulesCommonRuleSet", 2, counted=("SizeRestrictions_BODY",)),
                      managed("AWSManagedRulesKnownBadInputsRuleSet", 3)],
            "VisibilityConfig": visibility("shop-${Stage}-web-acl")}},
        # RestAPI.Stage is the stage the SAM transform makes (and waits for it): the ACL guards the real stage.
        "WebAclAssociation": {"Type": "AWS::WAFv2::WebACLAssociation", "Condition": "HasWaf", "Properties": {
            "ResourceArn": sub(stage), "WebACLArn": arn("WebAcl")}},
    }


def images() -> dict:
    """Product images: a private bucket (uploads by presigned POST only, TLS only, encrypted), a rule taking
    S3's object-created events for uploads to the validator's queue, and a CDN serving the published prefix
    through an origin access control (nothing reaches the bucket but CloudFront and the functions' roles)."""
    bucket_arn = "${ImagesBucket.Arn}"
    return {
        "ImagesBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {
            "BucketName": sub("shop-${Stage}-images-${AWS::AccountId}-${AWS::Region}"),
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            # The shop's pages post uploads straight to the bucket.
            "CorsConfiguration": {"Fn::If": ["HasAllowedOrigin", {"CorsRules": [
                {"AllowedMethods": ["POST"], "AllowedOrigins": [ref("AllowedOrigin")], "AllowedHeaders": ["*"],
                 "MaxAge": 3000}]}, ref("AWS::NoValue")]},
            # An upload is moved or deleted within seconds; one abandoned (never checked) goes after a day.
            "LifecycleConfiguration": {"Rules": [{"Id": "abandoned-uploads", "Status": "Enabled",
                                                  "Prefix": UPLOADS_PREFIX, "ExpirationInDays": 1,
                                                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}},
        "ImagesBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": ref("ImagesBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [sub(bucket_arn), sub(bucket_arn + "/*")],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "CdnReadsPublished", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                 "Action": "s3:GetObject", "Resource": sub(bucket_arn + "/" + PUBLISHED_PREFIX + "*"),
                 "Condition": {"StringEquals": {"AWS:SourceArn": sub(
                     "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ImagesDistribution}")}}}]}}},
        "ImagesOriginAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {"Name": sub("shop-${Stage}-images"), "OriginAccessControlOriginType": "s3",
                                          "SigningBehavior": "always", "SigningProtocol": "sigv4",
                                          "Description": "CloudFront reads published images"}}},
        "ImagesDistribution": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
            "Enabled": True, "Comment": sub("shop-${Stage} product images"), "HttpVersion": "http2and3",
            "PriceClass": "PriceClass_100", "IPV6Enabled": True,
            "Origins": [{"Id": "images", "DomainName": {"Fn::GetAtt": ["ImagesBucket", "RegionalDomainName"]},
                         "OriginPath": "/" + PUBLISHED_PREFIX.rstrip("/"),
                         "S3OriginConfig": {"OriginAccessIdentity": ""},
                         "OriginAccessControlId": {"Fn::GetAtt": ["ImagesOriginAccessControl", "Id"]}}],
            "DefaultCacheBehavior": {"TargetOriginId": "images", "ViewerProtocolPolicy": "redirect-to-https",
                                     "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"],
                                     "Compress": True, "CachePolicyId": CACHING_OPTIMIZED}}}},
        "ImageUploadedRule": {"Type": "AWS::Events::Rule", "Properties": {
            "Name": sub("shop-${Stage}-image-uploaded"), "State": "ENABLED",
            "Description": "S3 object-created events of image uploads, for the validator",
            "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"],
                             "detail": {"bucket": {"name": [ref("ImagesBucket")]},
                                        "object": {"key": [{"prefix": UPLOADS_PREFIX}]}}},
            "Targets": [{"Id": "ImagesQueue", "Arn": arn("ImagesQueue"),
                         "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                         "DeadLetterConfig": {"Arn": arn("EventsDLQ")}}]}},
    }


def code_deploy_role() -> dict:
    """The role CodeDeploy shifts the live aliases with: it may read and move those two aliases and read the
    alarms it watches, nothing else (SAM's default role holds AWS's managed policy, on every function and bucket)."""
    aliases = [f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}{qualifier}"
               for logical in ROLLBACK_ALARMS for name in [FUNCTIONS[logical][1]] for qualifier in ("", ":*")]
    return {"CodeDeployRole": {"Type": "AWS::IAM::Role", "Properties": {
        "Description": sub("shop-${Stage}: CodeDeploy moves the live aliases of the API and create_orders"),
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "shift-live-aliases", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "ShiftLiveAliases", "Effect": "Allow",
             "Action": ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"],
             "Resource": [sub(a) for a in aliases]},
            # CodeDeploy reads its alarms by name (read-only: the account's alarms in the stack's region).
            {"Sid": "WatchRollbackAlarms", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"],
             "Resource": sub(ALARMS_ARN)}]}}]}}}


def cursor_key() -> dict:
    """The key that signs pagination cursors (HMAC-SHA256): generated by Secrets Manager, never seen by anyone."""
    return {"CursorKey": {"Type": "AWS::SecretsManager::Secret", "DeletionPolicy": "Delete",
                          "UpdateReplacePolicy": "Delete", "Properties": {
        "Name": sub("shop-${Stage}-cursor-key"), "Description": "Signs the API's pagination cursors (HMAC-SHA256)",
        "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}}}


def stripe_secret() -> dict:
    """Stripe's keys for the stage, as JSON {"secretKey", "webhookSecret"}: operators put the account's keys in
    after the first deploy (README, "Configuration"). Created holding no working key: an empty secretKey (the API
    answers 503 PAYMENTS_NOT_CONFIGURED) and a random webhookSecret no Stripe event is signed with. Deleted with the
    stack, as the cursor key is (a retained one would keep a new stack of the stage from taking its name): the keys
    stay in Stripe's dashboard."""
    return {"StripeSecret": {"Type": "AWS::SecretsManager::Secret", "DeletionPolicy": "Delete",
                             "UpdateReplacePolicy": "Delete", "Properties": {
        "Name": sub("shop/${Stage}/stripe"),
        "Description": sub('Stripe keys of shop-${Stage}: {"secretKey": "sk_live_...", "webhookSecret": "whsec_..."}'),
        "GenerateSecretString": {"SecretStringTemplate": json.dumps({"secretKey": ""}),
                                 "GenerateStringKey": "webhookSecret", "PasswordLength": 32,
                                 "ExcludePunctuation": True}}}}


def log_group(name: str) -> dict:
    return {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": sub(name), "RetentionInDays": {"Fn::If": ["IsProd", 90, 14]}}}


def log_groups() -> dict:
    return {f"{logical}LogGroup": log_group(f"/aws/lambda/{name}") for logical, (_, name) in FUNCTIONS.items()}


# One JSON object per API request; every value quoted, so a missing one ("-") still parses.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId", "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath", "path": "$context.path", "status": "$context.status",
    "protocol": "$context.protocol", "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency", "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus", "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent", "user": "$context.authorizer.claims.sub",
    "error": "$context.error.message", "xrayTraceId": "$context.xrayTraceId",
}


def api_access_logs() -> dict:
    """The stage's access log group, and the account setting API Gateway needs before it writes any log.

    The CloudWatch Logs role is one per account and region, shared by every API there; a stack
    creates it only when `CreateApiGatewayAccountRole` says so (another stack may own it already).
    """
    group = log_group("/aws/apigateway/shop-${Stage}-access")
    # The stage refers to this group, so the stage waits for the account setting when the stack makes it
    # (a conditional DependsOn, written as a reference in the metadata).
    group["Metadata"] = {"WaitsFor": {"Fn::If": ["CreatesApiGatewayAccountRole", ref("ApiGatewayAccount"),
                                                 ref("AWS::NoValue")]}}
    return {
        "ApiAccessLogGroup": group,
        "ApiGatewayCloudWatchRole": {"Type": "AWS::IAM::Role", "Condition": "CreatesApiGatewayAccountRole",
                                     "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [sub(API_GATEWAY_LOGS_POLICY)]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Condition": "CreatesApiGatewayAccountRole",
                              "Properties": {"CloudWatchRoleArn": arn("ApiGatewayCloudWatchRole")}},
    }


def alarm(metric: str, namespace: str, dimensions: list, *, statistic: str = "Sum", threshold: float = 0,
          description: str, period: int = 300, extended: str | None = None,
          comparison: str = "GreaterThanThreshold", missing: str = "notBreaching") -> dict:
    props = {"AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
             "Dimensions": dimensions, "Period": period, "EvaluationPeriods": 1, "Threshold": threshold,
             "ComparisonOperator": comparison, "TreatMissingData": missing,
             "AlarmActions": [ref("AlarmTopic")], "OKActions": [ref("AlarmTopic")]}
    if extended:
        props["ExtendedStatistic"] = extended
    else:
        props["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def alarm_topic() -> dict:
    """The alarms' topic, encrypted under the stack's own key: CloudWatch cannot use the AWS managed
    alias/aws/sns (its key policy cannot be changed), so alarms published to such a topic are dropped."""
    from_alarms = {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
                   "ArnLike": {"aws:SourceArn": sub(ALARMS_ARN)}}
    return {
        "AlarmTopicKey": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
                          "Properties": {
            "Description": sub("shop-${Stage}: encrypts the alarm topic"), "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow",
                 "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": from_alarms}]}}},
        "AlarmTopicKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": sub("alias/shop-${Stage}-alarms"), "TargetKeyId": ref("AlarmTopicKey")}},
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": sub("shop-${Stage}-alarms"), "KmsMasterKeyId": arn("AlarmTopicKey")}},
        "AlarmTopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [ref("AlarmTopic")],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "AlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": ref("AlarmTopic"), "Condition": from_alarms}]}}},
        # A notification SNS cannot deliver (a bouncing address, a deleted subscription) is kept, not lost.
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
            "TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail"),
            "RedrivePolicy": {"deadLetterTargetArn": arn("AlarmsDLQ")}}},
    }


def alarms() -> dict:
    api = [{"Name": "ApiName", "Value": "shop"}, {"Name": "Stage", "Value": "api"}]
    result = {
        **alarm_topic(),
        "Api5xxAlarm": alarm("5XXError", "AWS/ApiGateway", api, description="The API answered 5xx"),
        "ApiLatencyAlarm": alarm("Latency", "AWS/ApiGateway", api, extended="p99", threshold=3000,
                                 description="API p99 latency above 3 s"),
    }
    for logical in FUNCTIONS:
        dims = [{"Name": "FunctionName", "Value": ref(logical)}]
        result[f"{logical}ErrorsAlarm"] = alarm("Errors", "AWS/Lambda", dims, description=f"{logical} errors")
        result[f"{logical}ThrottlesAlarm"] = alarm("Throttles", "AWS/Lambda", dims, description=f"{logical} throttled")
    for logical in FUNCTION_RULES:  # a schedule fires every minute: five minutes without an invocation is a fault
        result[f"{logical}StoppedAlarm"] = alarm(
            "Invocations", "AWS/Lambda", [{"Name": "FunctionName", "Value": ref(logical)}], threshold=1,
            comparison="LessThanThreshold", missing="breaching",
            description=f"{logical} was not invoked for five minutes: is its schedule enabled and allowed to invoke it?")
    for dlq in DLQS:
        result[f"{dlq}DepthAlarm"] = alarm(
            "ApproximateNumberOfMessagesVisible", "AWS/SQS",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}], statistic="Maximum",
            period=60, description=f"Messages are waiting in {dlq}: inspect and redrive")
    # Business metrics that call for a person (the app emits them as embedded metrics, see chalicelib/core/metrics.py).
    shop = [{"Name": "service", "Value": "shop"}]
    for metric, description in BUSINESS_ALARMS.items():
        result[f"{metric}Alarm"] = alarm(metric, "Shop", shop, description=description)
    return result


BUSINESS_ALARMS = {
    "MoneyOwedBack": "The shop holds money an order does not keep (paid late, twice, or cancelled after payment): "
                     "refund it (orders show refundDue)",
    "PaymentsForReview": "A verified payment names an unknown order or another amount or currency: "
                         "GET /admin/payments/review",
    "SweepFailures": "A housekeeping sweep could not finish an item or a step (see the function's log)",
    "OutboxEventsParked": "An outbox event no consumer would take was parked, never to be published: read its "
                          "reason (Query GSI3 OUTBOXPARKED; the function's log names its key)",
    "RefundsFailed": "The payment provider refused a refund: its amount is refundable again; ask for it anew "
                     "(GET /admin/orders/{id}/refunds)",
    "RefundsDueOverADay": "Orders have been owed a refund for more than a day: POST /admin/orders/{id}/refunds",
    "PaymentsDisputed": "A customer disputed a card payment (the order shows disputed): answer the dispute in "
                        "Stripe's dashboard before its deadline, with the order's evidence",
}


def dashboard() -> dict:
    def widget(title: str, metrics: list, x: int, y: int, stat: str = "Sum") -> dict:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "metrics": metrics, "stat": stat, "period": 300,
                               "region": "${AWS::Region}"}}
    business = [["Shop", name, "service", "shop"] for name in
                ("CheckoutsAccepted", "OrdersCreated", "DuplicatesSuppressed", "StockRejections",
                 "CheckoutConflicts", "PaymentsSucceeded", "PaymentsFailed", "PaymentsNotApplied",
                 "PaymentsForReview", "MoneyOwedBack", "InvalidEvents", "SweepFailures", "OutboxEventsParked",
                 "RefundsRequested", "RefundsSucceeded", "RefundsFailed", "RefundsDueOverADay", "ReturnsRequested",
                 "PaymentsDisputed")]
    body = {"widgets": [
        widget("API requests and errors", [["AWS/ApiGateway", m, "ApiName", "shop"] for m in
                                           ("Count", "4XXError", "5XXError")], 0, 0),
        widget("API latency p99", [["AWS/ApiGateway", "Latency", "ApiName", "shop"]], 12, 0, stat="p99"),
        widget("Business", business, 0, 6),
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", "${%s}" % f] for f in FUNCTIONS], 12, 6),
        widget("Dead-letter queues", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                       "${%s.QueueName}" % q] for q in DLQS], 0, 12, stat="Maximum"),
    ]}
    return {"ShopDashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": sub("shop-${Stage}"), "DashboardBody": sub(json.dumps(body))}}}


def gateway_responses() -> dict:
    """API Gateway's own answers (bad token, unknown route, throttling) in the API's one error shape, with CORS,
    as the definition's x-amazon-apigateway-gateway-responses."""
    # CORS only for the origin the stack is given (none by default: no `*` unless someone asks for it).
    plain = {"gatewayresponse.header.X-Content-Type-Options": "'nosniff'"}
    headers = {"Fn::If": ["HasAllowedOrigin", {
        **plain, "gatewayresponse.header.Access-Control-Allow-Origin": sub("'${AllowedOrigin}'"),
        "gatewayresponse.header.Access-Control-Allow-Headers":
            "'Authorization,Content-Type,Idempotency-Key,X-Correlation-Id'"}, plain]}
    # REQUEST_TOO_LARGE (a body over the gateway's 10 MB) says what the app's own 413 says, not DEFAULT_4XX's code.
    kinds = {"UNAUTHORIZED": "UNAUTHORIZED", "ACCESS_DENIED": "FORBIDDEN", "MISSING_AUTHENTICATION_TOKEN": "NOT_FOUND",
             "THROTTLED": "TOO_MANY_REQUESTS", "REQUEST_TOO_LARGE": "PAYLOAD_TOO_LARGE", "DEFAULT_4XX": "BAD_REQUEST",
             "DEFAULT_5XX": "INTERNAL_ERROR"}
    result = {}
    for kind, code in kinds.items():
        body = ('{"error":{"code":"%s","message":$context.error.messageString},"requestId":"$context.requestId"}'
                % code)
        result[kind] = {"responseParameters": headers, "responseTemplates": {"application/json": body}}
        if kind == "MISSING_AUTHENTICATION_TOKEN":
            result[kind]["statusCode"] = "404"  # API Gateway's answer for an unknown route: say so
    return result


def template() -> dict:
    resources = {
        "ShopTable": table(),
        "ShopEventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": sub("shop-${Stage}")}},
        "ShopEventArchive": {"Type": "AWS::Events::Archive", "Properties": {
            "ArchiveName": sub("shop-${Stage}-events"),
            "SourceArn": arn("ShopEventBus"), "Description": "Every shop event, for replay",
            "RetentionDays": {"Fn::If": ["IsProd", 90, 14]}}},
        "OrdersQueue": queue("orders", "OrdersDLQ", CONSUMER_TIMEOUT * 6),
        "AuditQueue": queue("audit", "AuditDLQ", CONSUMER_TIMEOUT * 6),
        "ErasuresQueue": queue("erasures", "ErasuresDLQ", ERASER_TIMEOUT * 6),
        "ImagesQueue": queue("images", "ImagesDLQ", VALIDATOR_TIMEOUT * 6),
        "NotifyQueue": queue("notify", "NotifyDLQ", CONSUMER_TIMEOUT * 6),
        "PaymentsQueue": queue("payments", "PaymentsDLQ", CONSUMER_TIMEOUT * 6),
        **{dlq: dead_letter_queue(dlq, name) for dlq, name in
           (("OrdersDLQ", "orders-dlq"), ("AuditDLQ", "audit-dlq"), ("ErasuresDLQ", "erasures-dlq"),
            ("EventsDLQ", "events-dlq"),
            ("NotifyDLQ", "notify-dlq"), ("HousekeepingDLQ", "housekeeping-dlq"), ("AlarmsDLQ", "alarms-dlq"),
            ("ImagesDLQ", "images-dlq"), ("PaymentsDLQ", "payments-dlq"))},
        **{logical: rule(name, pattern, target) for logical, (name, pattern, target) in RULES.items()},
        **queue_policies(),
        **user_pool(), **function_overrides(), **log_groups(), **api_access_logs(), **alarms(), **dashboard(),
        **web_acl(), **cursor_key(), **stripe_secret(), **images(), **code_deploy_role(),
    }
    return {
        "Parameters": {
            "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["local", "dev", "prod"]},
            "AlarmEmail": {"Type": "String", "Default": "", "Description": "Who is told when an alarm fires"},
            "AllowedOrigin": {"Type": "String", "Default": "",
                              "Description": "The shop's origin: CORS on gateway errors and on image uploads "
                                             "(empty: none; * only if you mean any site)"},
            "EmailSender": {"Type": "String", "Default": "",
                            "Description": "From address of customer emails (empty: no emails are sent)"},
            "EmailIdentity": {"Type": "String", "Default": "",
                              "Description": "The verified SES identity (the sender's address or domain) "
                                             "the notifier may send as"},
            "ApiThrottlingRateLimit": {"Type": "Number", "Default": 200, "MinValue": 1,
                                       "Description": "Requests per second the API stage admits (all clients)"},
            "ApiThrottlingBurstLimit": {"Type": "Number", "Default": 400, "MinValue": 1,
                                        "Description": "Requests the API stage admits at once above the rate"},
            "AuthThrottlingRateLimit": {"Type": "Number", "Default": 40, "MinValue": 1,
                                        "Description": "Requests per second each /auth/* route admits (all clients)"},
            "AuthThrottlingBurstLimit": {"Type": "Number", "Default": 150, "MinValue": 1,
                                         "Description": "Requests each /auth/* route admits at once above the rate "
                                                        "(keep it above WafAuthRateLimit: one address never "
                                                        "empties it)"},
            "WebhookThrottlingRateLimit": {"Type": "Number", "Default": 50, "MinValue": 1,
                                           "Description": "Requests per second the payment webhook admits"},
            "WebhookThrottlingBurstLimit": {"Type": "Number", "Default": 100, "MinValue": 1,
                                            "Description": "Requests the payment webhook admits at once above the rate"},
            "EnableWaf": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                          "Description": "Put the WAF web ACL in front of the API stage"},
            "WafRateLimit": {"Type": "Number", "Default": 2000, "MinValue": 10,
                             "Description": "Requests one client address may make in 5 minutes before WAF answers 429"},
            "WafAuthRateLimit": {"Type": "Number", "Default": 100, "MinValue": 10,
                                 "Description": "Requests to /auth/* one client address may make in 5 minutes "
                                                "before WAF answers 429"},
            "ApiReservedConcurrency": {"Type": "Number", "Default": 100, "MinValue": 0,
                                       "Description": "Concurrent executions reserved for (and capping) the API "
                                                      "function; 0 reserves none"},
            "EnableSnapStart": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                                "Description": "Restore the API and order functions from SnapStart snapshots "
                                               "(billed per snapshot cached and restored; off in dev)"},
            "ApiProvisionedConcurrency": {"Type": "Number", "Default": 0, "MinValue": 0,
                                          "Description": "Execution environments kept initialised on the API's "
                                                         "live alias (billed while provisioned, at most "
                                                         "ApiReservedConcurrency); above 0 it replaces SnapStart "
                                                         "on the API; 0 provisions none"},
            "OtelCollectorLayerArn": {"Type": "String", "Default": "", "AllowedPattern": "^(arn:aws[a-z-]*:lambda:.*)?$",
                                      "Description": "The OpenTelemetry collector extension layer (ADOT collector, "
                                                     "the functions' architecture and region) that sends a tracing "
                                                     "stage's spans to X-Ray; empty: none"},
            "ThreatProtectionMode": {"Type": "String", "Default": "OFF", "AllowedValues": ["OFF", "AUDIT", "ENFORCED"],
                                     "Description": "Cognito threat protection (AUDIT or ENFORCED moves the pool "
                                                    "to the Plus feature plan, billed per user)"},
            "CreateApiGatewayAccountRole": {
                "Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                "Description": "Set the account's API Gateway CloudWatch Logs role (one per account and region, "
                               "needed for access logs); false where another stack already sets it"},
        },
        "Conditions": {
            "IsProd": {"Fn::Equals": [ref("Stage"), "prod"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
            "HasAllowedOrigin": {"Fn::Not": [{"Fn::Equals": [ref("AllowedOrigin"), ""]}]},
            "SendsEmail": {"Fn::Not": [{"Fn::Equals": [ref("EmailSender"), ""]}]},
            "CreatesApiGatewayAccountRole": {"Fn::Equals": [ref("CreateApiGatewayAccountRole"), "true"]},
            "HasWaf": {"Fn::Equals": [ref("EnableWaf"), "true"]},
            "ReservesApiConcurrency": {"Fn::Not": [{"Fn::Equals": [ref("ApiReservedConcurrency"), 0]}]},
            "HasThreatProtection": {"Fn::Not": [{"Fn::Equals": [ref("ThreatProtectionMode"), "OFF"]}]},
            "HasOtelCollector": {"Fn::Not": [{"Fn::Equals": [ref("OtelCollectorLayerArn"), ""]}]},
            "ProvisionsApiConcurrency": {"Fn::Not": [{"Fn::Equals": [ref("ApiProvisionedConcurrency"), 0]}]},
            "SnapStarts": {"Fn::Equals": [ref("EnableSnapStart"), "true"]},
            "SnapStartsApi": {"Fn::And": [{"Condition": "SnapStarts"},
                                          {"Fn::Not": [{"Condition": "ProvisionsApiConcurrency"}]}]},
        },
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": ref("ShopTable")}, "EventBusName": {"Value": ref("ShopEventBus")},
            "OrdersQueueUrl": {"Value": ref("OrdersQueue")}, "AuditQueueUrl": {"Value": ref("AuditQueue")},
            "ErasuresQueueUrl": {"Value": ref("ErasuresQueue")}, "ImagesQueueUrl": {"Value": ref("ImagesQueue")},
            "NotifyQueueUrl": {"Value": ref("NotifyQueue")}, "PaymentsQueueUrl": {"Value": ref("PaymentsQueue")},
            "ImagesBucketName": {"Value": ref("ImagesBucket")},
            "ImagesUrl": {"Value": sub("https://${ImagesDistribution.DomainName}")},
            "UserPoolId": {"Value": ref("UserPool")}, "UserPoolClientId": {"Value": ref("UserPoolClient")},
            "AlarmTopicArn": {"Value": ref("AlarmTopic")},
            "ApiAccessLogGroupName": {"Value": ref("ApiAccessLogGroup")},
            "WebAclArn": {"Condition": "HasWaf", "Value": arn("WebAcl")},
        },
    }


def render() -> str:
    return json.dumps(template(), indent=2) + "\n"


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
