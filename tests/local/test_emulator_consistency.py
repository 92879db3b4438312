"""The emulator keeps DynamoDB's (and SQS', EventBridge's, Cognito's) promises when requests overlap.

Each test hammers the emulator itself (`python -m local.emulator`, as `make run` starts it) from
many threads at once and then checks the answers against what AWS guarantees: every acknowledged
write is there, a conditional write or transaction wins exactly when DynamoDB would let it, and no
race answers 500.
"""
from __future__ import annotations

import collections
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

TABLE = "shop-local"
THREADS = 16
# Many connections, no retries: a throttled or failed call must show, not be hidden by botocore.
CLIENT_CONFIG = Config(max_pool_connections=THREADS * 2, retries={"total_max_attempts": 1}, read_timeout=30)


@pytest.fixture(scope="module")
def client(emulator, session, stack):
    def make(service: str):
        return session.client(service, endpoint_url=emulator.url, config=CLIENT_CONFIG)
    return make


def together(calls, threads: int = THREADS) -> list:
    """Run the calls on `threads` threads, the first of them released at once; each result, or the exception
    it raised."""
    go = threading.Event()

    def run(call):
        go.wait(10)
        try:
            return call()
        except Exception as error:  # noqa: BLE001 (the test inspects what each call raised)
            return error

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, call) for call in calls]
        time.sleep(0.2)  # the threads are waiting
        go.set()
        return [future.result() for future in futures]


def status_of(outcome) -> int:
    if isinstance(outcome, ClientError):
        return outcome.response["ResponseMetadata"]["HTTPStatusCode"]
    if isinstance(outcome, Exception):
        return -1
    return outcome["ResponseMetadata"]["HTTPStatusCode"]


def code_of(outcome) -> str | None:
    return outcome.response["Error"]["Code"] if isinstance(outcome, ClientError) else None


def reasons_of(outcome) -> list[str]:
    return [reason.get("Code", "None") for reason in outcome.response.get("CancellationReasons", [])]


def key(pk: str, sk: str = "X") -> dict:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def test_every_acknowledged_write_survives_failing_transactions_beside_it(client):
    """Plain writes race transactions that fail on a condition: a rollback never takes a committed write back."""
    ddb = client("dynamodb")
    run = uuid.uuid4().hex[:8]
    ddb.put_item(TableName=TABLE, Item={**key(f"{run}-guard"), "n": {"N": "0"}})
    calls = []
    for i in range(240):
        if i % 3 == 0:  # a transaction whose second item's condition fails: cancelled, rolled back
            calls.append(lambda i=i: ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key(f"{run}-tx-{i}"), "v": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": TABLE, "Key": key(f"{run}-guard"),
                                    "ConditionExpression": "n = :never",
                                    "ExpressionAttributeValues": {":never": {"N": "-1"}}}}]))
        else:
            calls.append(lambda i=i: ddb.put_item(TableName=TABLE, Item={**key(f"{run}-put-{i}"),
                                                                          "v": {"N": str(i)}}))
    outcomes = together(calls)
    assert [o for o in outcomes if status_of(o) >= 500 or status_of(o) < 0] == []
    acknowledged = [i for i, o in enumerate(outcomes) if i % 3 and status_of(o) == 200]
    assert len(acknowledged) == 160
    cancelled = [o for i, o in enumerate(outcomes) if i % 3 == 0]
    assert {code_of(o) for o in cancelled} == {"TransactionCanceledException"}
    assert {tuple(reasons_of(o)) for o in cancelled} == {("None", "ConditionalCheckFailed")}
    missing = [i for i in acknowledged if "Item" not in ddb.get_item(TableName=TABLE, Key=key(f"{run}-put-{i}"),
                                                                      ConsistentRead=True)]
    assert missing == []
    leaked = [i for i in range(0, 240, 3) if "Item" in ddb.get_item(TableName=TABLE, Key=key(f"{run}-tx-{i}"),
                                                                      ConsistentRead=True)]
    assert leaked == []


def test_one_of_identical_put_if_absent_transactions_wins(client):
    """N identical "put if absent, then add 1 to a counter" transactions: exactly one commits, once."""
    ddb = client("dynamodb")
    run = uuid.uuid4().hex[:8]
    rounds, contenders = 12, 8
    ddb.put_item(TableName=TABLE, Item={**key(f"{run}-counter"), "n": {"N": "0"}})

    def contender(r: int):
        return lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key(f"{run}-claim-{r}"), "by": {"S": uuid.uuid4().hex}},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Update": {"TableName": TABLE, "Key": key(f"{run}-counter"), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}])

    outcomes = together([contender(r) for r in range(rounds) for _ in range(contenders)])
    assert [o for o in outcomes if status_of(o) >= 500 or status_of(o) < 0] == []
    wins = collections.Counter(i // contenders for i, o in enumerate(outcomes) if status_of(o) == 200)
    assert wins == {r: 1 for r in range(rounds)}
    losers = [o for o in outcomes if status_of(o) != 200]
    assert {code_of(o) for o in losers} == {"TransactionCanceledException"}
    # The losers read the claim as taken (DynamoDB may also answer TransactionConflict: never a second win).
    assert {tuple(reasons_of(o)) for o in losers} <= {("ConditionalCheckFailed", "None"),
                                                      ("TransactionConflict", "None")}
    counter = ddb.get_item(TableName=TABLE, Key=key(f"{run}-counter"), ConsistentRead=True)["Item"]
    assert counter["n"] == {"N": str(rounds)}


def test_conditional_decrements_never_sell_more_than_there_is(client):
    """The checkout's shape: `stock >= :q` decrements from many buyers; exactly the stock is sold."""
    ddb = client("dynamodb")
    run = uuid.uuid4().hex[:8]
    ddb.put_item(TableName=TABLE, Item={**key(f"{run}-product"), "stock": {"N": "40"}})

    def buy(i: int):
        return lambda: ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key(f"{run}-product"), "UpdateExpression": "SET stock = stock - :q",
                        "ConditionExpression": "stock >= :q", "ExpressionAttributeValues": {":q": {"N": "1"}}}},
            {"Put": {"TableName": TABLE, "Item": {**key(f"{run}-sale-{i}")},
                     "ConditionExpression": "attribute_not_exists(PK)"}}])

    outcomes = together([buy(i) for i in range(120)])
    assert [o for o in outcomes if status_of(o) >= 500 or status_of(o) < 0] == []
    sold = [i for i, o in enumerate(outcomes) if status_of(o) == 200]
    assert len(sold) == 40
    stock = ddb.get_item(TableName=TABLE, Key=key(f"{run}-product"), ConsistentRead=True)["Item"]["stock"]
    assert stock == {"N": "0"}
    recorded = ddb.query(TableName=TABLE, KeyConditionExpression="PK = :p",
                         ExpressionAttributeValues={":p": {"S": f"{run}-sale-0"}})  # a query answers too
    assert recorded["ResponseMetadata"]["HTTPStatusCode"] == 200
    found = []
    for start in range(0, 120, 100):
        found += ddb.batch_get_item(RequestItems={TABLE: {"Keys": [key(f"{run}-sale-{i}") for i in
                                                                   range(start, min(start + 100, 120))],
                                                          "ConsistentRead": True}})["Responses"][TABLE]
    assert sorted(int(item["PK"]["S"].rsplit("-", 1)[1]) for item in found) == sold


def test_optimistic_updates_from_many_writers_lose_no_increment(client):
    """Read, then write conditioned on the version read, retrying on refusal: every increment lands once."""
    ddb = client("dynamodb")
    run = uuid.uuid4().hex[:8]
    ddb.put_item(TableName=TABLE, Item={**key(f"{run}-doc"), "version": {"N": "0"}, "n": {"N": "0"}})

    def increment():
        for _ in range(200):
            seen = ddb.get_item(TableName=TABLE, Key=key(f"{run}-doc"), ConsistentRead=True)["Item"]
            try:
                ddb.put_item(TableName=TABLE, Item={**key(f"{run}-doc"),
                                                    "version": {"N": str(int(seen["version"]["N"]) + 1)},
                                                    "n": {"N": str(int(seen["n"]["N"]) + 1)}},
                             ConditionExpression="version = :seen",
                             ExpressionAttributeValues={":seen": seen["version"]})
                return True
            except ClientError as refused:
                if code_of(refused) != "ConditionalCheckFailedException":
                    raise
        return False

    outcomes = together([increment for _ in range(48)])
    assert outcomes == [True] * 48
    item = ddb.get_item(TableName=TABLE, Key=key(f"{run}-doc"), ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "48"} and item["version"] == {"N": "48"}


def test_a_transaction_costs_the_same_in_a_full_table(client):
    """A transaction touches its own items: its time does not grow with what else the table holds."""
    ddb = client("dynamodb")
    run = uuid.uuid4().hex[:8]

    def failing_transactions(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            with pytest.raises(ClientError):
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": key(f"{run}-t-{i}"),
                             "ConditionExpression": "attribute_exists(PK)"}}])
        return (time.perf_counter() - start) / n

    before = min(failing_transactions(20) for _ in range(3))
    for batch in range(200):  # 5,000 items more
        ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {**key(f"{run}-fill-{batch}-{i}"), "GSI1PK": {"S": f"{run}-fill"},
                                     "GSI1SK": {"S": f"{batch:04}-{i:02}"}, "pad": {"S": "x" * 200}}}}
            for i in range(25)]})
    after = min(failing_transactions(20) for _ in range(3))
    assert after < before * 2 + 0.005, (before, after)


# --- the other services the shop uses --------------------------------------------------------

def test_concurrent_sends_receives_and_deletes_lose_no_message(client, stack):
    """Consumers receive and delete from a full queue while producers keep sending: every acknowledged
    message is delivered, none to two consumers within its visibility timeout, and deleting one never
    takes another back."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"hammer-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    backlog, sent = 400, 900
    for start in range(0, backlog, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m-{i}"}
                                                      for i in range(start, start + 10)])
    received, errors = collections.Counter(), []
    done_sending = threading.Event()
    lock = threading.Lock()

    def produce(worker: int):
        for i in range(backlog + worker, sent, 6):
            sqs.send_message(QueueUrl=url, MessageBody=f"m-{i}")

    def consume():
        idle = 0
        while idle < 2:
            try:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                               WaitTimeSeconds=1).get("Messages", [])
                if messages:
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            except ClientError as error:
                errors.append(error)
                continue
            with lock:
                received.update(m["Body"] for m in messages)
            idle = idle + 1 if not messages and done_sending.is_set() else 0

    with ThreadPoolExecutor(18) as pool:
        consumers = [pool.submit(consume) for _ in range(12)]
        producers = [pool.submit(produce, w) for w in range(6)]
        for future in producers:
            future.result()
        done_sending.set()
        for future in consumers:
            future.result()
    assert errors == []
    assert set(received) == {f"m-{i}" for i in range(sent)}
    assert [body for body, times in received.items() if times > 1] == []


def test_events_put_on_the_bus_at_once_all_reach_the_rule_queue(client, stack):
    events, sqs = client("events"), client("sqs")
    bus = stack.summary()["event_bus_name"]
    name = f"hammer-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern='{"source": ["%s"]}' % name)
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    def put(i: int):
        return lambda: events.put_events(Entries=[
            {"EventBusName": bus, "Source": name, "DetailType": "Hammered", "Detail": '{"i": %d}' % (i * 10 + j)}
            for j in range(10)])

    outcomes = together([put(i) for i in range(20)])
    assert [o for o in outcomes if status_of(o) != 200] == []
    assert all(o["FailedEntryCount"] == 0 for o in outcomes)
    seen = set()
    deadline = time.monotonic() + 20
    while len(seen) < 200 and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        seen.update(message["Body"] for message in messages)
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert len(seen) == 200


def test_cognito_sign_ups_and_sign_ins_at_once(client, stack):
    """Registrations and logins in parallel: each answered, each user there once, each login a token."""
    idp = client("cognito-idp")
    summary = stack.summary()
    pool, app_client = summary["user_pool_id"], summary["user_pool_client_id"]
    run = uuid.uuid4().hex[:8]
    emails = [f"hammer-{run}-{i}@example.com" for i in range(24)]

    def sign_up(email: str):
        def call():
            idp.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": email}])
            idp.admin_set_user_password(UserPoolId=pool, Username=email, Password="Hammer123!x", Permanent=True)
            return idp.initiate_auth(ClientId=app_client, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": email, "PASSWORD": "Hammer123!x"})
        return call

    outcomes = together([sign_up(email) for email in emails] + [sign_up(emails[0])])
    twins = [outcomes[0], outcomes[-1]]  # the same email twice: one is created, the other refused
    assert sorted(code_of(o) or "OK" for o in twins) == ["OK", "UsernameExistsException"]
    answered = [o for o in outcomes[1:-1] + twins if code_of(o) is None]
    assert [o for o in answered if status_of(o) != 200] == []
    assert len(answered) == len(emails) and all(o["AuthenticationResult"]["IdToken"] for o in answered)
    listed = idp.list_users(UserPoolId=pool, Filter=f'email ^= "hammer-{run}-"')["Users"]
    assert sorted(next(a["Value"] for a in u["Attributes"] if a["Name"] == "email") for u in listed) == sorted(emails)
