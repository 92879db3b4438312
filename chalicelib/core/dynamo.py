"""The one way to talk to the table: typed (de)serialisation, pages with opaque cursors."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.core.aws import client
from chalicelib.core.errors import BadRequest
from chalicelib.core.settings import settings

if TYPE_CHECKING:
    from pydantic import BaseModel

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Index name -> (partition key attribute, sort key attribute).
INDEXES: dict[str | None, tuple[str, str]] = {
    None: ("PK", "SK"),
    "GSI1": ("GSI1PK", "GSI1SK"),
    "GSI2": ("GSI2PK", "GSI2SK"),
    "GSI3": ("GSI3PK", "GSI3SK"),
}


def ddb() -> Any:
    return client("dynamodb")


def table_name() -> str:
    return settings().table_name


def to_attr(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_exact(value))


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialise a plain dict, leaving out None values (absent beats NULL for sparse indexes)."""
    return {k: _serializer.serialize(_exact(v)) for k, v in data.items() if v is not None}


def _exact(value: Any) -> Any:
    """`value` with each float as the decimal it was written as (a tax rate's 7.25 in a model's JSON dump):
    DynamoDB numbers are decimals, and the serializer refuses floats."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def get(pk: str, sk: str, *, consistent: bool = False, attributes: str | None = None,
        names: dict[str, str] | None = None) -> dict[str, Any] | None:
    """One item as DynamoDB holds it (None: no such item); `attributes` a projection of it."""
    options = {"ConsistentRead": consistent, "ProjectionExpression": attributes, "ExpressionAttributeNames": names}
    return ddb().get_item(TableName=table_name(), Key=key(pk, sk),
                          **{name: value for name, value in options.items() if value}).get("Item")


ModelT = TypeVar("ModelT", bound="BaseModel")


def model_from_item(model: type[ModelT], item: dict[str, Any], **overrides: Any) -> ModelT:
    """The model an item stores: its own fields, without the table's (keys, index keys, type, TTL)."""
    fields = model.model_fields
    return model.model_validate({**{k: v for k, v in item.items() if k in fields}, **overrides})


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
# An attribute, or a path into nested maps as a tuple of names: ("images", image_id, "status").
Path = str | tuple[str, ...]


class Update:
    """An UpdateExpression said once: SET, ADD and REMOVE clauses with the names and values they use.

    Placeholders are named after their attributes (`#stock`, `:stock`), so a condition written
    beside them reads the same and may use the same names. SET, ADD and REMOVE also take a path
    into nested maps, a tuple of names (`("images", image_id)` is `#images.#<image_id>`):

        Update().set("status", "PAID").add("version", 1).remove("GSI3PK").request(
            "#status = :from", names={"#status": "status"}, values={":from": "PENDING"})
    """

    def __init__(self) -> None:
        self._clauses: dict[str, list[str]] = {"SET": [], "ADD": [], "REMOVE": []}
        self._names: dict[str, str] = {}
        self._values: dict[str, dict[str, Any]] = {}

    def set(self, attribute: Path, value: Any) -> Update:
        self._clauses["SET"].append(f"{self._path(attribute)} = {self._value(_last(attribute), value)}")
        return self

    def set_all(self, fields: dict[str, Any]) -> Update:
        for attribute, value in fields.items():
            self.set(attribute, value)
        return self

    def set_or_remove(self, fields: dict[str, Any]) -> Update:
        """SET each field, REMOVE those that are None (absent beats NULL, as in `to_item`)."""
        for attribute, value in fields.items():
            if value is None:
                self.remove(attribute)
            else:
                self.set(attribute, value)
        return self

    def set_if_absent(self, attribute: str, value: Any) -> Update:
        name = self._name(attribute)
        self._clauses["SET"].append(f"{name} = if_not_exists({name}, {self._value(attribute, value)})")
        return self

    def append(self, attribute: str, elements: list[Any]) -> Update:
        """Append to a list attribute, starting it if absent."""
        name = self._name(attribute)
        self._clauses["SET"].append(f"{name} = list_append(if_not_exists({name}, {self._value('empty', [])}), "
                                    f"{self._value(attribute, elements)})")
        return self

    def set_in_list(self, attribute: str, index: int, field: str, value: Any) -> Update:
        """SET one field of one element of a list attribute (`refunds[2].status = :status`)."""
        self._clauses["SET"].append(f"{self._name(attribute)}[{int(index)}].{self._name(field)} = "
                                    f"{self._value(field, value)}")
        return self

    def add(self, attribute: Path, amount: int) -> Update:
        self._clauses["ADD"].append(f"{self._path(attribute)} {self._value(_last(attribute), amount)}")
        return self

    def remove(self, *attributes: Path) -> Update:
        self._clauses["REMOVE"] += [self._path(attribute) for attribute in attributes]
        return self

    @property
    def expression(self) -> str:
        parts = [f"{verb} {', '.join(clauses)}" for verb, clauses in self._clauses.items() if clauses]
        if not parts:
            raise ValueError("an update needs at least one clause")
        return " ".join(parts)

    def request(self, condition: str | None = None, *, names: dict[str, str] | None = None,
                values: dict[str, Any] | None = None) -> dict[str, Any]:
        """UpdateExpression (and ConditionExpression) with every name and value they use, for an
        UpdateItem or a transaction's Update. The condition's `values` are plain, like `set`'s."""
        all_names, all_values = dict(self._names), dict(self._values)
        for placeholder, attribute in (names or {}).items():
            if all_names.setdefault(placeholder, attribute) != attribute:
                raise ValueError(f"{placeholder} names both {all_names[placeholder]} and {attribute}")
        for placeholder, value in (values or {}).items():
            if placeholder in all_values:
                raise ValueError(f"{placeholder} is the update's own placeholder")
            all_values[placeholder] = to_attr(value)
        request: dict[str, Any] = {"UpdateExpression": self.expression}
        if condition:
            request["ConditionExpression"] = condition
        if all_names:
            request["ExpressionAttributeNames"] = all_names
        if all_values:
            request["ExpressionAttributeValues"] = all_values
        return request

    def _path(self, attribute: Path) -> str:
        return ".".join(self._name(part) for part in ((attribute,) if isinstance(attribute, str) else attribute))

    def _name(self, attribute: str) -> str:
        placeholder = f"#{attribute}" if _PLAIN_NAME.fullmatch(attribute) else f"#n{len(self._names)}"
        while self._names.setdefault(placeholder, attribute) != attribute:  # a map key "n1" beside a made-up #n1
            placeholder += "_"
        return placeholder

    def _value(self, attribute: str, value: Any) -> str:
        base = f":{attribute}" if _PLAIN_NAME.fullmatch(attribute) else f":v{len(self._values)}"
        placeholder, serialized, n = base, to_attr(value), 1
        while self._values.get(placeholder, serialized) != serialized:  # the same attribute with another value
            placeholder, n = f"{base}_{n}", n + 1
        self._values[placeholder] = serialized
        return placeholder


def _last(attribute: Path) -> str:
    return attribute if isinstance(attribute, str) else attribute[-1]


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None = None


_CURSOR_MAC_LENGTH = 32  # hex characters of the HMAC-SHA256 kept in a cursor (128 bits)


@functools.lru_cache(maxsize=1)
def cursor_key() -> bytes:
    """The key that signs cursors: the stack's secret (read once per container), else, on the local
    and test stages only, the plain setting. A deployed stage without its secret serves no cursor."""
    current = settings()
    if current.cursor_key_secret:
        from chalicelib.core.gateways import stack_secrets

        return stack_secrets().get(current.cursor_key_secret).encode()
    if current.deployed:
        raise RuntimeError("CURSOR_KEY_SECRET is not set: a deployed stage signs cursors with the stack's key")
    return current.cursor_key.encode()


def _cursor_mac(payload: str) -> str:
    return hmac.new(cursor_key(), payload.encode(), hashlib.sha256).hexdigest()[:_CURSOR_MAC_LENGTH]


def invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is invalid.", [{"field": "cursor", "location": "query", "issue": "invalid",
                                                  "message": "invalid cursor"}], code="INVALID_CURSOR")


# Cursors are opaque to clients: where the next page starts, bound to what it pages through, signed
# (HMAC-SHA256 under the stack's key) so an edited or forged cursor is refused instead of silently misread.
def sign_cursor(data: dict[str, Any]) -> str:
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(f"{_cursor_mac(payload)}{payload}".encode()).decode().rstrip("=")


def open_cursor(cursor: str) -> dict[str, Any]:
    """What `sign_cursor` signed; 400 INVALID_CURSOR for anything else."""
    cursor_key()  # a stage that cannot sign answers that, not "invalid cursor"
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        mac, payload = raw[:_CURSOR_MAC_LENGTH], raw[_CURSOR_MAC_LENGTH:]
        if not hmac.compare_digest(_cursor_mac(payload).encode(), mac.encode()):
            raise ValueError("signature")
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("shape")
    except Exception:
        raise invalid_cursor() from None
    return data


def encode_cursor(last_key: dict[str, Any] | None, partition: str) -> str | None:
    """The last evaluated key of a page of `partition`."""
    if not last_key:
        return None
    return sign_cursor({"k": {k: v["S"] for k, v in last_key.items()}, "p": partition})


def decode_cursor(cursor: str | None, partition: str, index: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    data = open_cursor(cursor)
    invalid = invalid_cursor()
    try:
        plain = data["k"]
        if data["p"] != partition:
            raise ValueError("partition")
    except Exception:
        raise invalid from None
    expected = {"PK", "SK", *INDEXES[index]}
    if not isinstance(plain, dict) or set(plain) != expected or not all(
            isinstance(v, str) and 0 < len(v) <= 1024 for v in plain.values()):
        raise invalid
    if plain[INDEXES[index][0]] != partition:
        raise invalid
    return {k: {"S": v} for k, v in plain.items()}


def query_page(partition: str, *, index: str | None = None, limit: int = 20,
               cursor: str | None = None, forward: bool = True,
               sort_between: tuple[str, str] | None = None, sort_prefix: str | None = None,
               sort_from: str | None = None, sort_to: str | None = None,
               filter_expression: str | None = None,
               filter_values: dict[str, Any] | None = None,
               filter_names: dict[str, str] | None = None) -> Page:
    """One Query of one partition, one page long: its sort keys `sort_between` two (inclusive), or beginning with
    `sort_prefix`, or from `sort_from` or up to `sort_to` (inclusive)."""
    pk_name, sk_name = INDEXES[index]
    names = {"#pk": pk_name, **(filter_names or {})}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk"
    if sort_between:
        names["#sk"] = sk_name
        values[":lo"], values[":hi"] = {"S": sort_between[0]}, {"S": sort_between[1]}
        condition += " AND #sk BETWEEN :lo AND :hi"
    elif sort_prefix:
        names["#sk"] = sk_name
        values[":prefix"] = {"S": sort_prefix}
        condition += " AND begins_with(#sk, :prefix)"
    elif sort_from is not None:
        names["#sk"] = sk_name
        values[":from"] = {"S": sort_from}
        condition += " AND #sk >= :from"
    elif sort_to is not None:
        names["#sk"] = sk_name
        values[":to"] = {"S": sort_to}
        condition += " AND #sk <= :to"
    request: dict[str, Any] = {
        "TableName": table_name(), "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        "Limit": limit, "ScanIndexForward": forward,
    }
    if index:
        request["IndexName"] = index
    if filter_expression:
        request["FilterExpression"] = filter_expression
        values.update({k: to_attr(v) for k, v in (filter_values or {}).items()})
    start = decode_cursor(cursor, partition, index)
    if start:
        request["ExclusiveStartKey"] = start
    result = ddb().query(**request)
    return Page(items=[from_item(i) for i in result.get("Items", [])],
                next_cursor=encode_cursor(result.get("LastEvaluatedKey"), partition))


def every_item(partition: str, *, index: str | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
    """Every item of one partition, read a page at a time as the caller goes: for work inside one
    invocation (erasure), where a cursor never leaves the function and needs no signing."""
    pk_name, _ = INDEXES[index]
    request: dict[str, Any] = {"TableName": table_name(), "KeyConditionExpression": "#pk = :pk",
                               "ExpressionAttributeNames": {"#pk": pk_name},
                               "ExpressionAttributeValues": {":pk": {"S": partition}}, "Limit": page_size}
    if index:
        request["IndexName"] = index
    while True:
        result = ddb().query(**request)
        yield from (from_item(item) for item in result.get("Items", []))
        if not result.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = result["LastEvaluatedKey"]


_BATCH_GET_LIMIT = 100  # keys in one BatchGetItem call


class BatchRead(dict):
    """Items found, by (PK, SK); `unprocessed` holds the keys DynamoDB still left unread after every
    attempt: neither found nor known to be absent (read them on their own, or give up)."""

    def __init__(self) -> None:
        super().__init__()
        self.unprocessed: set[tuple[str, str]] = set()


def batch_get(keys: list[tuple[str, str]], attempts: int = 5, *, consistent: bool = False,
              projection: str | None = None, names: dict[str, str] | None = None) -> BatchRead:
    """Items of several domains by (PK, SK) in as few BatchGetItem calls as the API allows (retrying
    what DynamoDB leaves unprocessed): a basket's products with its promotion, in one read.
    `consistent` reads strongly; `projection` names the attributes wanted (the keys come too)."""
    found = BatchRead()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _BATCH_GET_LIMIT):
        wanted: dict[str, Any] = {"Keys": [key(pk, sk) for pk, sk in unique[start:start + _BATCH_GET_LIMIT]]}
        if consistent:
            wanted["ConsistentRead"] = True
        if projection:
            wanted["ProjectionExpression"] = f"PK, SK, {projection}"
        if names:
            wanted["ExpressionAttributeNames"] = names
        request = {table_name(): wanted}
        for _attempt in range(attempts):
            result = ddb().batch_get_item(RequestItems=request)
            for item in result.get("Responses", {}).get(table_name(), []):
                data = from_item(item)
                found[(data["PK"], data["SK"])] = data
            request = result.get("UnprocessedKeys") or {}
            if not request:
                break
        found.unprocessed |= {(k["PK"]["S"], k["SK"]["S"]) for k in request.get(table_name(), {}).get("Keys", [])}
    return found


def put_if_absent(item: dict[str, Any]) -> bool:
    """Write a new item; False (and nothing written) if one with its key exists: the idempotency primitive."""
    return applied(put(item))


def conditional_update(**request: Any) -> tuple[bool, dict[str, Any] | None]:
    """An UpdateItem whose condition may fail. Returns (True, item as now) or (False, item as it was),
    the latter None when there was no item at all, so callers tell "missing" from "refused"."""
    from botocore.exceptions import ClientError

    try:
        result = ddb().update_item(TableName=table_name(), ReturnValues="ALL_NEW",
                                   ReturnValuesOnConditionCheckFailure="ALL_OLD", **request)
    except ClientError as exc:
        if condition_failed(exc):
            return False, old_item_of(exc)
        raise
    return True, from_item(result["Attributes"])


# --- writes that name their refusals --------------------------------------------------------

Found = dict[str, Any] | None  # an item as a refused write found it (None: there was none)
# What a refused condition raises: an exception (or its class) as it is, or a function of the item as the write
# found it, which DynamoDB then hands back with the refusal.
Refusal = BaseException | type[BaseException] | Callable[[Found], BaseException]


@dataclass(frozen=True)
class Write:
    """One write of a transaction (or on its own) and what its refusal means: built by `put`, `update`, `delete`
    and `check`, so whoever writes an item also says what a failed condition on it means."""

    request: dict[str, Any]  # {"Put" | "Update" | "Delete" | "ConditionCheck": {...}}
    refused: Refusal | None = None

    def refusal(self, found: Found) -> BaseException | None:
        if self.refused is None:
            return None
        if isinstance(self.refused, BaseException):
            return self.refused
        if isinstance(self.refused, type):
            return self.refused()
        return self.refused(found)


class Gathered(Exception):
    """A refusal several writes of one transaction may each raise (every short line of a checkout, every
    erased person an audit record names): the transaction raises one, holding the `parts` of all of them."""

    def __init__(self, *parts: Any):
        super().__init__(*parts)
        self.parts = list(parts)


def _wants_item(refused: Refusal | None) -> bool:
    return callable(refused) and not isinstance(refused, (BaseException, type))


def _write(kind: str, body: dict[str, Any], condition: str | None, names: dict[str, str] | None,
           values: dict[str, Any] | None, refused: Refusal | None) -> Write:
    body = {"TableName": table_name(), **body}
    if condition:
        body["ConditionExpression"] = condition
    if names:
        body["ExpressionAttributeNames"] = {**body.get("ExpressionAttributeNames", {}), **names}
    if values:
        body["ExpressionAttributeValues"] = {**body.get("ExpressionAttributeValues", {}),
                                             **{k: to_attr(v) for k, v in values.items()}}
    if _wants_item(refused):
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return Write({kind: body}, refused)


def put(item: dict[str, Any], condition: str | None = "attribute_not_exists(PK)", *,
        names: dict[str, str] | None = None, values: dict[str, Any] | None = None,
        refused: Refusal | None = None) -> Write:
    """Put `item` (a plain dict, None values left out), by default only where no item has its key."""
    return _write("Put", {"Item": to_item(item)}, condition, names, values, refused)


def update(pk: str, sk: str, change: Update, condition: str | None = None, *, names: dict[str, str] | None = None,
           values: dict[str, Any] | None = None, refused: Refusal | None = None) -> Write:
    """Apply `change` to the item (PK, SK); the condition's names and values join the update's own."""
    return Write({"Update": {"TableName": table_name(), "Key": key(pk, sk),
                             **change.request(condition, names=names, values=values),
                             **({"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if _wants_item(refused) else {})}},
                 refused)


def delete(pk: str, sk: str, condition: str | None = None, *, names: dict[str, str] | None = None,
           values: dict[str, Any] | None = None, refused: Refusal | None = None) -> Write:
    return _write("Delete", {"Key": key(pk, sk)}, condition, names, values, refused)


def check(pk: str, sk: str, condition: str, *, names: dict[str, str] | None = None,
          values: dict[str, Any] | None = None, refused: Refusal | None = None) -> Write:
    """A condition on an item the transaction does not change."""
    return _write("ConditionCheck", {"Key": key(pk, sk)}, condition, names, values, refused)


class TransactionRejected(Exception):
    """A condition refused a write (or a transaction) and no refused write names what that means: the
    cancellation reasons, for the log."""

    def __init__(self, reasons: list[str]):
        super().__init__(f"write refused: {reasons}")
        self.reasons = reasons


class TransactionContended(Exception):
    """Concurrent transactions on the same items (or throttling) outlasted the retries."""


# Cancellation reasons that say "try again", not "no": another transaction held an item, or capacity.
_TRANSIENT_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                      "RequestLimitExceeded"}
_TRANSIENT_ERRORS = {"TransactionConflictException", "TransactionInProgressException", "ThrottlingException",
                     "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
TRANSACTION_ATTEMPTS = 4
TRANSACTION_LIMIT = 100  # items in one TransactWriteItems


def transact(writes: Sequence[Write], *, attempts: int = TRANSACTION_ATTEMPTS, base_delay: float = 0.02) -> None:
    """All of `writes` or none (TransactWriteItems), retried with jittered backoff while it only collides with
    other transactions.

    A refused condition (at once: conditions do not heal by waiting) raises what the first refused write names,
    in the order given, so a transaction lists first the write whose refusal says most; a `Gathered` refusal
    holds the parts of every refused write of its kind. TransactionRejected when no refused write names one;
    TransactionContended when the collisions outlast `attempts`.
    """
    import random
    import time

    from botocore.exceptions import ClientError

    for attempt in range(attempts):
        try:
            ddb().transact_write_items(TransactItems=[one.request for one in writes])
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "TransactionCanceledException":
                found = exc.response.get("CancellationReasons", [])
                reasons = [r.get("Code", "None") for r in found]
                if not set(reasons) <= _TRANSIENT_REASONS | {"None"} or set(reasons) <= {"None"}:
                    raise _refusal_of(writes, reasons, [from_item(r["Item"]) if r.get("Item") else None
                                                        for r in found]) from None
            elif code not in _TRANSIENT_ERRORS:
                raise
        if attempt + 1 < attempts:
            time.sleep(random.uniform(0, base_delay * 2 ** attempt))
    raise TransactionContended(f"still contended after {attempts} attempts")


def _refusal_of(writes: Sequence[Write], reasons: list[str], found: list[Found]) -> BaseException:
    """What a cancelled transaction means: DynamoDB gives one reason per write, in the order they were sent."""
    refusals = [refusal for one, reason, item in zip(writes, reasons, found)
                if reason == "ConditionalCheckFailed" and (refusal := one.refusal(item)) is not None]
    if not refusals:
        return TransactionRejected(reasons)
    first = refusals[0]
    if isinstance(first, Gathered):
        first.parts = [part for refusal in refusals if type(refusal) is type(first) for part in refusal.parts]
    return first


def write(one: Write) -> None:
    """One write on its own (PutItem, UpdateItem or DeleteItem: half a transaction's cost). A refused condition
    raises what the write names (TransactionRejected where it names nothing)."""
    from botocore.exceptions import ClientError

    try:
        _send(one)
    except ClientError as exc:
        if not condition_failed(exc):
            raise
        raise (one.refusal(old_item_of(exc)) or TransactionRejected(["ConditionalCheckFailed"])) from None


def applied(one: Write) -> bool:
    """One write on its own; False (and nothing written) when its condition refuses it."""
    from botocore.exceptions import ClientError

    try:
        _send(one)
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _send(one: Write) -> None:
    (kind, body), = one.request.items()
    getattr(ddb(), {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[kind])(**body)


def condition_failed(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def old_item_of(exc: Exception) -> dict[str, Any] | None:
    """The item as it was when a condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    item = getattr(exc, "response", {}).get("Item")
    return from_item(item) if item else None
