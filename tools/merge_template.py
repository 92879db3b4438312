"""Write .chalice/resources.json, the CloudFormation merge template (`make template`).

Everything the shop needs beyond what Chalice generates lives here: the table, the bus and
its archive, rules with retries and dead-letter queues, queues with redrive, the user pool,
log groups, alarms and a dashboard. It also bridges what Chalice cannot express: SQS sources
reporting partial batch failures, bus rules on the project's own bus, the authorizer bound
to the pool, CORS on gateway errors. The local stack creates its resources from the same file.
"""
from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / ".chalice" / "resources.json"

# Chalice's logical id of every function app.py defines -> (its name in app.py and config.json,
# its deployed name). The policy files and the local stack use the same table.
FUNCTIONS = {
    "APIHandler": ("api_handler", "shop-${Stage}"),
    "CreateOrders": ("create_orders", "shop-${Stage}-create_orders"),
    "RecordAudit": ("record_audit", "shop-${Stage}-record_audit"),
    "Notify": ("notify", "shop-${Stage}-notify"),
    "Housekeeping": ("housekeeping", "shop-${Stage}-housekeeping"),
}
# Where each asynchronously invoked function's failed invocations go (Lambda on-failure destinations).
FAILURE_QUEUES = {"Notify": "NotifyDLQ", "Housekeeping": "HousekeepingDLQ"}
CONSUMER_TIMEOUT = 30  # seconds: create_orders' timeout (config.json); queues wait 6x that
QUEUES = {"Orders": ("orders", "CreateOrders", "CreateOrdersSqsEventSource"),
          "Audit": ("audit", "RecordAudit", "RecordAuditSqsEventSource")}
DLQS = ["OrdersDLQ", "AuditDLQ", "EventsDLQ", "NotifyDLQ", "HousekeepingDLQ"]


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def ref(name: str) -> dict:
    return {"Ref": name}


def arn(name: str) -> dict:
    return {"Fn::GetAtt": [name, "Arn"]}


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


def dead_letter_queue(name: str) -> dict:
    return {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": sub(f"shop-${{Stage}}-{name}"), "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}


def rule(name: str, pattern: dict, queue_logical: str) -> dict:
    return {"Type": "AWS::Events::Rule", "Properties": {
        "Name": sub(f"shop-${{Stage}}-{name}"), "EventBusName": ref("ShopEventBus"), "EventPattern": pattern,
        "State": "ENABLED",
        "Targets": [{"Id": queue_logical, "Arn": arn(queue_logical),
                     "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                     "DeadLetterConfig": {"Arn": arn("EventsDLQ")}}]}}


def queue_policy(queues: list[str], rules: list[str]) -> dict:
    return {"Type": "AWS::SQS::QueuePolicy", "Properties": {
        "Queues": [ref(q) for q in queues],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": "BusRulesMayDeliver", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": [arn(q) for q in queues],
            "Condition": {"ArnEquals": {"aws:SourceArn": [arn(r) for r in rules]}}}]}}}


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
            "DeletionProtection": {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}}},
        "UserPoolClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
            "UserPoolId": ref("UserPool"), "ClientName": sub("shop-${Stage}-web"), "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED", "EnableTokenRevocation": True,
            "IdTokenValidity": 60, "AccessTokenValidity": 60, "RefreshTokenValidity": 30,
            "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"}}},
        "AdminGroup": {"Type": "AWS::Cognito::UserPoolGroup", "Properties": {
            "UserPoolId": ref("UserPool"), "GroupName": "admin", "Description": "Shop staff"}},
    }


def function_overrides() -> dict:
    env = {"TABLE_NAME": ref("ShopTable"), "EVENT_BUS_NAME": ref("ShopEventBus"),
           "USER_POOL_ID": ref("UserPool"), "USER_POOL_CLIENT_ID": ref("UserPoolClient"),
           "ORDERS_QUEUE_NAME": {"Fn::GetAtt": ["OrdersQueue", "QueueName"]},
           "AUDIT_QUEUE_NAME": {"Fn::GetAtt": ["AuditQueue", "QueueName"]},
           "LOG_LEVEL": {"Fn::If": ["IsProd", "INFO", "DEBUG"]},
           "SEND_EMAIL": {"Fn::If": ["SendsEmail", "true", "false"]}, "EMAIL_SENDER": ref("EmailSender")}
    resources: dict = {}
    for logical, (_, name) in FUNCTIONS.items():
        resources[logical] = {"Properties": {"FunctionName": sub(name), "Environment": {"Variables": env}}}
    for queue_name, (_, function, source) in QUEUES.items():
        resources[function]["Properties"]["Events"] = {source: {"Properties": {
            "Queue": arn(f"{queue_name}Queue"), "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    # EventBridge retries a delivery it cannot make for a day, then parks it in EventsDLQ.
    delivery = {"DeadLetterConfig": {"Arn": arn("EventsDLQ")},
                "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}}
    resources["Notify"]["Properties"]["Events"] = {"NotifyEvent": {"Properties": {
        "EventBusName": ref("ShopEventBus"), **delivery}}}
    resources["Housekeeping"]["Properties"]["Events"] = {"HousekeepingEvent": {"Properties": delivery}}
    # An invocation that fails after Lambda's own retries lands in the function's failure queue:
    # notify retries twice (a notification is idempotent by event id); housekeeping not at all,
    # because the next tick a minute later redoes whatever the failed sweep left.
    retries = {"Notify": (2, 6 * 3600), "Housekeeping": (0, 300)}
    for logical, queue_logical in FAILURE_QUEUES.items():
        attempts, max_age = retries[logical]
        resources[logical]["Properties"]["EventInvokeConfig"] = {
            "MaximumRetryAttempts": attempts, "MaximumEventAgeInSeconds": max_age,
            "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": arn(queue_logical)}}}
    resources["Housekeeping"]["Properties"]["ReservedConcurrentExecutions"] = 1
    resources["RestAPI"] = {"Properties": {"DefinitionBody": {"securityDefinitions": {"ShopUsers": {
        "x-amazon-apigateway-authorizer": {"providerARNs": [arn("UserPool")]}}}}}}
    return resources


def log_groups() -> dict:
    return {f"{logical}LogGroup": {
        "Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": sub(f"/aws/lambda/{name}"),
                       "RetentionInDays": {"Fn::If": ["IsProd", 90, 14]}}} for logical, (_, name) in FUNCTIONS.items()}


def alarm(metric: str, namespace: str, dimensions: list, *, statistic: str = "Sum", threshold: float = 0,
          description: str, period: int = 300, extended: str | None = None) -> dict:
    props = {"AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
             "Dimensions": dimensions, "Period": period, "EvaluationPeriods": 1, "Threshold": threshold,
             "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
             "AlarmActions": [ref("AlarmTopic")], "OKActions": [ref("AlarmTopic")]}
    if extended:
        props["ExtendedStatistic"] = extended
    else:
        props["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def alarms() -> dict:
    api = [{"Name": "ApiName", "Value": "shop"}, {"Name": "Stage", "Value": "api"}]
    result = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": sub("shop-${Stage}-alarms"), "KmsMasterKeyId": "alias/aws/sns"}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
            "TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail")}},
        "Api5xxAlarm": alarm("5XXError", "AWS/ApiGateway", api, description="The API answered 5xx"),
        "ApiLatencyAlarm": alarm("Latency", "AWS/ApiGateway", api, extended="p99", threshold=3000,
                                 description="API p99 latency above 3 s"),
    }
    for logical in FUNCTIONS:
        dims = [{"Name": "FunctionName", "Value": ref(logical)}]
        result[f"{logical}ErrorsAlarm"] = alarm("Errors", "AWS/Lambda", dims, description=f"{logical} errors")
        result[f"{logical}ThrottlesAlarm"] = alarm("Throttles", "AWS/Lambda", dims, description=f"{logical} throttled")
    for dlq in DLQS:
        result[f"{dlq}DepthAlarm"] = alarm(
            "ApproximateNumberOfMessagesVisible", "AWS/SQS",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}], statistic="Maximum",
            period=60, description=f"Messages are waiting in {dlq}: inspect and redrive")
    return result


def dashboard() -> dict:
    def widget(title: str, metrics: list, x: int, y: int, stat: str = "Sum") -> dict:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "metrics": metrics, "stat": stat, "period": 300,
                               "region": "${AWS::Region}"}}
    business = [["Shop", name, "service", "shop"] for name in
                ("CheckoutsAccepted", "OrdersCreated", "DuplicatesSuppressed", "StockRejections",
                 "PaymentsSucceeded", "PaymentsFailed", "InvalidEvents")]
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
    """API Gateway's own answers (bad token, unknown route, throttling) in the API's one error shape, with CORS."""
    cors = {"gatewayresponse.header.Access-Control-Allow-Origin": sub("'${AllowedOrigin}'"),
            "gatewayresponse.header.Access-Control-Allow-Headers":
                "'Authorization,Content-Type,Idempotency-Key,X-Correlation-Id'"}
    kinds = {"UNAUTHORIZED": "UNAUTHORIZED", "ACCESS_DENIED": "FORBIDDEN", "MISSING_AUTHENTICATION_TOKEN": "NOT_FOUND",
             "THROTTLED": "TOO_MANY_REQUESTS", "DEFAULT_4XX": "BAD_REQUEST", "DEFAULT_5XX": "INTERNAL_ERROR"}
    result = {}
    for kind, code in kinds.items():
        body = ('{"error":{"code":"%s","message":$context.error.messageString},"requestId":"$context.requestId"}'
                % code)
        props = {"RestApiId": ref("RestAPI"), "ResponseType": kind, "ResponseParameters": cors,
                 "ResponseTemplates": {"application/json": body}}
        if kind == "MISSING_AUTHENTICATION_TOKEN":
            props["StatusCode"] = "404"  # API Gateway's answer for an unknown route: say so
        name = "".join(part.title() for part in kind.split("_"))
        result[f"Gateway{name}Response"] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": props}
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
        **{dlq: dead_letter_queue(name) for dlq, name in
           (("OrdersDLQ", "orders-dlq"), ("AuditDLQ", "audit-dlq"), ("EventsDLQ", "events-dlq"),
            ("NotifyDLQ", "notify-dlq"), ("HousekeepingDLQ", "housekeeping-dlq"))},
        "CheckoutRequestedRule": rule("checkout-requested", {"source": ["shop"], "detail-type": ["CheckoutRequested"]},
                                      "OrdersQueue"),
        "AuditRule": rule("audit-everything", {"source": ["shop"]}, "AuditQueue"),
        "BusQueuesPolicy": queue_policy(["OrdersQueue", "AuditQueue"], ["CheckoutRequestedRule", "AuditRule"]),
        "EventsDLQPolicy": queue_policy(["EventsDLQ"], ["CheckoutRequestedRule", "AuditRule"]),
        **user_pool(), **function_overrides(), **log_groups(), **alarms(), **dashboard(), **gateway_responses(),
    }
    return {
        "Parameters": {
            "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["local", "dev", "prod"]},
            "AlarmEmail": {"Type": "String", "Default": "", "Description": "Who is told when an alarm fires"},
            "AllowedOrigin": {"Type": "String", "Default": "*", "Description": "CORS origin on gateway errors"},
            "EmailSender": {"Type": "String", "Default": "",
                            "Description": "From address of customer emails (empty: no emails are sent)"},
            "EmailIdentity": {"Type": "String", "Default": "",
                              "Description": "The verified SES identity (the sender's address or domain) "
                                             "the notifier may send as"},
        },
        "Conditions": {
            "IsProd": {"Fn::Equals": [ref("Stage"), "prod"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
            "SendsEmail": {"Fn::Not": [{"Fn::Equals": [ref("EmailSender"), ""]}]},
        },
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": ref("ShopTable")}, "EventBusName": {"Value": ref("ShopEventBus")},
            "OrdersQueueUrl": {"Value": ref("OrdersQueue")}, "AuditQueueUrl": {"Value": ref("AuditQueue")},
            "UserPoolId": {"Value": ref("UserPool")}, "UserPoolClientId": {"Value": ref("UserPoolClient")},
            "AlarmTopicArn": {"Value": ref("AlarmTopic")},
        },
    }


def render() -> str:
    return json.dumps(template(), indent=2) + "\n"


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
