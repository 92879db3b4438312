"""Write the least-privilege IAM policy of every function and stage to .chalice/ (`make policies`).

Each function gets only the actions its code calls, on only the stage's resources. The
policies are files (Chalice reads them with autogen_policy off); this module is their source.
"""
from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGES = ("local", "dev", "prod")


def _table(stage: str) -> list[str]:
    arn = f"arn:aws:dynamodb:*:*:table/shop-{stage}"
    return [arn, f"{arn}/index/*"]


def _bus(stage: str) -> str:
    return f"arn:aws:events:*:*:event-bus/shop-{stage}"


def _queue(stage: str, name: str) -> str:
    return f"arn:aws:sqs:*:*:shop-{stage}-{name}"


def _statement(sid: str, actions: list[str], resources: list[str] | str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
            "Resource": resources if isinstance(resources, list) else [resources]}


def _common(stage: str) -> list[dict]:
    return [
        _statement("Logs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                   f"arn:aws:logs:*:*:log-group:/aws/lambda/shop-{stage}-*"),
        # X-Ray accepts no resource scoping for these two actions.
        _statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
    ]


def _consumer(stage: str, queue: str) -> dict:
    return _statement("ConsumeQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                       "sqs:ChangeMessageVisibility"], _queue(stage, queue))


POOL = "arn:aws:cognito-idp:*:*:userpool/*"


def policies(stage: str) -> dict[str, dict]:
    """Function name (as in app.py) -> policy document."""
    table, bus = _table(stage), _bus(stage)
    functions = {
        "api_handler": [
            _statement("Table", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                 "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:TransactWriteItems",
                                 "dynamodb:ConditionCheckItem"], table),
            _statement("Bus", ["events:PutEvents"], bus),
            _statement("Users", ["cognito-idp:AdminDisableUser", "cognito-idp:AdminEnableUser",
                                 "cognito-idp:AdminUserGlobalSignOut"]
                       + (["cognito-idp:AdminConfirmSignUp"] if stage == "local" else []), POOL),
            _statement("WebhookSecret", ["ssm:GetParameter"],
                       f"arn:aws:ssm:*:*:parameter/shop/{stage}/payment-webhook-secret"),
        ],
        "create_orders": [
            _statement("Table", ["dynamodb:PutItem"], table),
            _statement("Bus", ["events:PutEvents"], bus),
            _consumer(stage, "orders"),
        ],
        "record_audit": [
            _statement("Table", ["dynamodb:PutItem"], table),
            _consumer(stage, "audit"),
        ],
        "notify": [
            _statement("Table", ["dynamodb:PutItem", "dynamodb:GetItem"], table),
            _statement("Staff", ["cognito-idp:ListUsersInGroup"], POOL),
            _statement("Email", ["ses:SendEmail"], "arn:aws:ses:*:*:identity/*"),
        ],
        "housekeeping": [
            _statement("Table", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                 "dynamodb:TransactWriteItems"], table),
            _statement("Bus", ["events:PutEvents"], bus),
        ],
    }
    return {name: {"Version": "2012-10-17", "Statement": statements + _common(stage)}
            for name, statements in functions.items()}


def render() -> dict[str, str]:
    return {f"policy-{stage}-{name.replace('_', '-')}.json": json.dumps(doc, indent=2) + "\n"
            for stage in STAGES for name, doc in policies(stage).items()}


def main() -> None:
    target = ROOT / ".chalice"
    for name, text in render().items():
        (target / name).write_text(text)
    print(f"wrote {len(render())} policy files to .chalice/")


if __name__ == "__main__":
    main()
