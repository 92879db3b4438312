"""Write the least-privilege IAM policy of every function and stage to .chalice/ (`make policies`).

Each function gets only the actions its code calls, on only the stack's own resources. Resources
are written as CloudFormation `Fn::Sub` strings (`${ShopTable.Arn}`, `${AWS::Region}`, ...): the
packaging step wraps them in `Fn::Sub`, and the local stack resolves them against the resources
it created, so the same file is what AWS and the emulator enforce. The files are what Chalice's
config names (autogen_policy off); this module is their source.
"""
from __future__ import annotations

import json
import pathlib

from tools.merge_template import FAILURE_QUEUES, FUNCTIONS

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGES = ("local", "dev", "prod")

TABLE = "${ShopTable.Arn}"
BUS = "${ShopEventBus.Arn}"
POOL = "${UserPool.Arn}"
IMAGES = "${ImagesBucket.Arn}"
UPLOADS, PUBLISHED = f"{IMAGES}/uploads/*", f"{IMAGES}/published/*"
EMAIL_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${EmailIdentity}"
LOGICAL = {function: logical for logical, (function, _) in FUNCTIONS.items()}

# Actions that accept no resource but `*` (the service authorization reference says so).
UNSCOPED_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def _attr(logical: str) -> str:
    return "${%s.Arn}" % logical


def _indexes(*names: str) -> list[str]:
    """Queries on an index are authorised against the index's own ARN: name only those a function reads."""
    return [f"{TABLE}/index/{name}" for name in names]


def _statement(sid: str, actions: list[str], resources: list[str] | str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
            "Resource": resources if isinstance(resources, list) else [resources]}


def _stage_environment(stage: str) -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def _common(stage: str, function: str) -> list[dict]:
    statements = [
        # Its own log group only (created by the template with a retention; Lambda may not create one).
        _statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], _attr(f"{LOGICAL[function]}LogGroup")),
    ]
    logical = LOGICAL[function]
    if logical in FAILURE_QUEUES:  # Lambda sends failed invocations with the function's own role
        statements.append(_statement("FailedInvocations", ["sqs:SendMessage"], _attr(FAILURE_QUEUES[logical])))
    if _stage_environment(stage).get("TRACING") == "true":
        statements.append(_statement("Tracing", sorted(UNSCOPED_ACTIONS), "*"))
    return statements


def _cursor_key() -> dict:
    # Code that pages through a query (query_page) signs and checks cursors with the stack's key:
    # that one secret, by the ARN the template's Ref gives.
    return _statement("CursorKey", ["secretsmanager:GetSecretValue"], "${CursorKey}")


def _stripe_secret() -> dict:
    # The Stripe keys of the stage (the template's StripeSecret): only the API (intents, the webhook's signature)
    # and the payment provider's consumer (refunds, cancellations) read them.
    return _statement("StripeSecret", ["secretsmanager:GetSecretValue"], "${StripeSecret}")


def _consumer(queue_logical: str) -> dict:
    # What Lambda's event source mapping does with the function's role: poll, delete, read attributes.
    return _statement("ConsumeQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                      _attr(queue_logical))


def policies(stage: str) -> dict[str, dict]:
    """Function name (as in app.py) -> policy document."""
    environment = _stage_environment(stage)
    secret = environment.get("PAYMENT_WEBHOOK_SECRET_PARAMETER")
    api = [
        _statement("Table", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                             "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"], TABLE),
        # Listings: GSI1 per owner or category, GSI2 global (see docs/access-patterns.md).
        _statement("Indexes", ["dynamodb:Query"], _indexes("GSI1", "GSI2")),
        _statement("Bus", ["events:PutEvents"], BUS),
        # TOTP (AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference, RespondToAuthChallenge) is
        # authorised by the user's tokens, not IAM: the API can change no one's factors by itself. A registration
        # for a known email looks the account up (AdminGetUser), and replaces an expired unconfirmed sign-up
        # (AdminDeleteUser).
        _statement("Users", ["cognito-idp:AdminDisableUser", "cognito-idp:AdminEnableUser",
                             "cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminGetUser",
                             "cognito-idp:AdminDeleteUser"]
                   + (["cognito-idp:AdminConfirmSignUp"] if environment.get("AUTO_CONFIRM_USERS") == "true" else []),
                   POOL),
        _cursor_key(),
        _stripe_secret(),
        # A presigned POST is authorised as its signer: the API may sign uploads to the uploads prefix only.
        _statement("SignImageUploads", ["s3:PutObject"], UPLOADS),
        # DELETE /products/{id}/images/{imageId} removes the image's file, uploaded or published.
        _statement("RemoveImages", ["s3:DeleteObject"], [UPLOADS, PUBLISHED]),
    ]
    if secret:
        api.append(_statement("WebhookSecret", ["ssm:GetParameter"],
                              "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + secret))
    functions = {
        "api_handler": api,
        "create_orders": [
            # The batch's addresses from their checkout records (BatchGetItem, GetItem for one it left out); one
            # transaction per order puts it, takes the address off the checkout (UpdateItem) and checks its buyer
            # was not erased meanwhile (ConditionCheckItem).
            _statement("Table", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], TABLE),
            _statement("Bus", ["events:PutEvents"], BUS),
            _consumer("OrdersQueue"),
        ],
        "record_audit": [
            # A record per event (PutItem); one naming a customer only while they are not erased (ConditionCheckItem).
            _statement("Table", ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"], TABLE),
            _consumer("AuditQueue"),
        ],
        "erase_users": [
            # The tombstone read and finished (GetItem, UpdateItem), the user's partition (Query on the table) emptied
            # but for it, checkouts, orders, returns and refunds (Query of the order's partition) rid of the person
            # (GetItem, UpdateItem), audit records rewritten without them (PutItem).
            _statement("Table", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                 "dynamodb:PutItem"], TABLE),
            # A user's checkouts, orders, notifications and an order's returns are listed through GSI1; the audit
            # records of a user, an order or a checkout through GSI2.
            _statement("Indexes", ["dynamodb:Query"], _indexes("GSI1", "GSI2")),
            _statement("Users", ["cognito-idp:AdminDeleteUser"], POOL),
            # An erasure that runs out of time sends its event to this queue again, to continue.
            _statement("ContinueErasure", ["sqs:GetQueueUrl", "sqs:SendMessage"], _attr("ErasuresQueue")),
            _consumer("ErasuresQueue"),
        ],
        "notify": [
            # A notification per event (PutItem) unless its recipient was erased (ConditionCheckItem), the
            # recipient's profile (GetItem), its email settled (UpdateItem).
            _statement("Table", ["dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem",
                                 "dynamodb:UpdateItem"], TABLE),
            _statement("Staff", ["cognito-idp:ListUsersInGroup"], POOL),
            _statement("Email", ["ses:SendEmail"], EMAIL_IDENTITY),
            _consumer("NotifyQueue"),
        ],
        "validate_images": [
            # The image read (GetItem) and settled (UpdateItem) with its event kept in the outbox (PutItem),
            # whose mark is cleared once the event is on the bus (UpdateItem).
            _statement("Table", ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"], TABLE),
            _statement("Bus", ["events:PutEvents"], BUS),
            # Reads an upload's first bytes, copies it to the published prefix, deletes it.
            _statement("ReadUploads", ["s3:GetObject", "s3:DeleteObject"], UPLOADS),
            # Publishes; removes what it published when the image was deleted while it was being checked.
            _statement("Publish", ["s3:PutObject", "s3:DeleteObject"], PUBLISHED),
            _consumer("ImagesQueue"),
        ],
        "housekeeping": [
            # Cancelling an overdue order is one transaction: the order, its stock, its events (Put). Evening out a
            # spread variant's stock: the list of them (Query), the product and its stock items read (GetItem,
            # BatchGetItem), units moved between the items in one transaction (Update).
            _statement("Table", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem", "dynamodb:DeleteItem"], TABLE),
            # GSI3 holds the work queues: the outbox, payment deadlines, basket expiry.
            _statement("Indexes", ["dynamodb:Query"], _indexes("GSI3")),
            _statement("Bus", ["events:PutEvents"], BUS),
            _cursor_key(),  # the sweeps page through their work queues
        ],
        "payment_provider": [
            # The order and its refunds read (GetItem, BatchGetItem, Query of the order's partition); a refund
            # settled or an intent's cancellation recorded with its event in the outbox, in one transaction
            # (UpdateItem, PutItem, ConditionCheckItem), the outbox mark cleared once the event is on the bus.
            _statement("Table", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], TABLE),
            _statement("Bus", ["events:PutEvents"], BUS),
            _stripe_secret(),
            _consumer("PaymentsQueue"),
        ],
    }
    return {name: {"Version": "2012-10-17", "Statement": statements + _common(stage, name)}
            for name, statements in functions.items()}


def policy_file(stage: str, function: str) -> str:
    """The policy file of a function (its name in app.py) and stage, in .chalice/."""
    return f"policy-{stage}-{function.replace('_', '-')}.json"


def render() -> dict[str, str]:
    return {policy_file(stage, name): json.dumps(doc, indent=2) + "\n"
            for stage in STAGES for name, doc in policies(stage).items()}


def main() -> None:
    target = ROOT / ".chalice"
    for name, text in render().items():
        (target / name).write_text(text)
    print(f"wrote {len(render())} policy files to .chalice/")


if __name__ == "__main__":
    main()
