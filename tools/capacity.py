"""`make capacity`: what each order takes from each DynamoDB partition, how many checkouts a second that
leaves the whole shop and one hot SKU, and what an order costs on AWS. Writes dist/capacity.json.

The shop runs in-process against the emulator (moto, the stack built from the merge template, IAM
enforced per function), driven as AWS drives it: HTTP requests through the API handler, the events it
publishes delivered by the bus rules to the queues, each queue's messages handed to its function, the
schedule's sweep. Every AWS call is seen by a wrapper around botocore's client call that this module
installs for the run; the shop's code is not changed or told. For each DynamoDB request the wrapper
reads the items it names before and after (as the emulator's operator, unrecorded) and derives the
units DynamoDB charges, per partition key value, on the table and on each index:

- a write costs its item's larger size (before or after), 1 KB a unit, at least one; a transactional
  item (ConditionCheck included) twice that; a conditional write that is refused still costs its item;
- an index is written when the item enters it, leaves it (its old entry deleted), moves in it (a delete
  and a put, each on its own partition) or changes a projected attribute in place; each at the standard
  rate, a transaction's too (DynamoDB doubles the table's side only);
- a read costs its item's size, 4 KB a unit, at least one: half for eventually consistent reads (every
  index read), twice for transactional ones; a Query the size of every item its key condition reached,
  summed before rounding (filters and projections do not reduce it).

Partition key values are grouped into key classes (`ORDERSTATUS#<status>`, `OUTBOX`, ...) read from the
key design itself (the literal tags, `tagged("…")` key functions and templates of chalicelib's key modules
and repositories), so a new key is classified without editing this file. A partition is shared when more
than one order of a run touches it: its units per checkout set a ceiling (1,000 WCU/s, 3,000 RCU/s per
partition key value); a partition of one order's own (its order, its customer) does not. Every shared key
below a target is reported with the partitions it needs and the next step. The hot SKU's figures over 1, 10,
20 and 50 stock items are runs of their own, each a product whose stock staff spread over that many items
(`stockShards`); a spread SKU's items are one load, each its share, as a sharded key's shards are.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import contextvars
import io
import json
import math
import os
import pathlib
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "dist" / "capacity.json"

# --- the model's constants -------------------------------------------------------------------

PARTITION_LIMITS = {"WCU": 1_000, "RCU": 3_000}  # per partition key value, per second (table and each index)
SHARD_COUNTS = (1, 10, 20, 50)
TARGETS = {"shop_checkouts_per_s": 10_000, "hot_sku_checkouts_per_s": {"20": 5_000}}
# The attributes that hold a SKU's stock: a write that changes one is a stock write, which sharding spreads.
STOCK_ATTRIBUTES = ("stock",)
WRITE_UNIT_BYTES, READ_UNIT_BYTES = 1024, 4096

# AWS list prices, us-east-1, USD, as published on each service's pricing page in January 2025 (the first
# paid tier; no free tier counted). Re-check them before relying on a figure: the date is the table's.
PRICES_AS_OF = "2025-01"
PRICES = {
    # aws.amazon.com/lambda/pricing: duration per GB-second by architecture, requests per million
    "lambda_gb_second": {"arm64": 0.0000133334, "x86_64": 0.0000166667},
    "lambda_request": 0.20 / 1e6,
    # aws.amazon.com/api-gateway/pricing: REST APIs, first 333 million requests a month
    "api_gateway_rest_request": 3.50 / 1e6,
    # aws.amazon.com/dynamodb/pricing/on-demand: request units (since the cut of 2024-11-01), indexes included
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    # aws.amazon.com/eventbridge/pricing: custom events per 64 KB chunk; the archive per GB it takes in
    "eventbridge_event": 1.00 / 1e6,
    "eventbridge_archive_gb": 0.10,
    # aws.amazon.com/sqs/pricing: standard queues, per 64 KB chunk of a request
    "sqs_request": 0.40 / 1e6,
    # aws.amazon.com/cloudwatch/pricing: logs ingested (standard class); embedded metrics arrive as log lines
    "cloudwatch_logs_gb": 0.50,
}
PRICE_SOURCES = "aws.amazon.com/{lambda,api-gateway,dynamodb,eventbridge,sqs,cloudwatch}/pricing (us-east-1)"
# Lambda writes START, END and REPORT lines for every invocation (REPORT with its X-Ray trace id in prod):
# about this many bytes together. API Gateway's access log line is sized from the template's format.
LAMBDA_PLATFORM_LOG_BYTES = 330
ACCESS_LOG_VALUE_CHARS = 20  # a typical $context value's length, for sizing the access log line
EVENT_CHUNK_BYTES = 64 * 1024
# A function's billed time is what its own code took in the run (wall time, the emulator's answers taken out),
# on the CPU share its memory buys (Lambda gives one vCPU at 1,769 MB, less below), plus each AWS call's wait.
# The waits are assumed, not measured (the emulator answers in process): typical round trips from a function
# to a service in its region. Replace them with what the deployment's traces show.
VCPU_MEMORY_MB = 1769
CALL_LATENCY_MS = {"dynamodb": 5.0, "dynamodb.TransactWriteItems": 12.0, "dynamodb.BatchGetItem": 7.0,
                   "events": 20.0, "sqs": 8.0}
DEFAULT_CALL_LATENCY_MS = 15.0


# --- item sizes and units, as DynamoDB counts them ------------------------------------------

def _number_size(text: str) -> int:
    """A number: one byte per two significant digits, plus one."""
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


def attribute_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's wire format ({"S": ...}, {"M": {...}}, ...)."""
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(text.encode()) for text in content)
    if kind == "NS":
        return sum(_number_size(text) for text in content)
    if kind == "BS":
        return sum(len(data) for data in content)
    if kind == "L":
        return 3 + sum(1 + attribute_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(element) for name, element in content.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: dict[str, Any] | None) -> int:
    """Attribute names and values, summed: what DynamoDB rounds up into units."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def write_units(size: int, *, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units * (2.0 if transactional else 1.0 if consistent else 0.5)


def _scalar(value: dict[str, Any]) -> str:
    (_, content), = value.items()
    return content.decode() if isinstance(content, bytes) else str(content)


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key and what it projects (ALL, KEYS_ONLY or INCLUDE)."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str
    table_keys: tuple[str, ...]
    non_key: tuple[str, ...] = ()

    def key_of(self, item: dict[str, Any] | None) -> tuple[str, str] | None:
        """(partition, sort) of the item's entry, None while it is not in this (sparse) index."""
        if not item or self.hash_key not in item or (self.range_key and self.range_key not in item):
            return None
        return _scalar(item[self.hash_key]), _scalar(item[self.range_key]) if self.range_key else ""

    def entry(self, item: dict[str, Any] | None) -> dict[str, Any]:
        if not item or self.projection == "ALL":
            return dict(item or {})
        kept = {*self.table_keys, self.hash_key, *([self.range_key] if self.range_key else []), *self.non_key}
        return {name: value for name, value in item.items() if name in kept}


def index_writes(index: Index, before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, float]]:
    """(partition, WCU) written on `index` by one item going from `before` to `after` (None: no item)."""
    old, new = index.key_of(before), index.key_of(after)
    if old is None and new is None:
        return []
    if old == new:
        was, now = index.entry(before), index.entry(after)
        return [] if was == now else [(new[0], write_units(max(item_size(was), item_size(now))))]
    writes = []
    if old is not None:  # the old entry deleted
        writes.append((old[0], write_units(item_size(index.entry(before)))))
    if new is not None:
        writes.append((new[0], write_units(item_size(index.entry(after)))))
    return writes


@dataclass(frozen=True)
class Usage:
    """Units one request took from one partition key value of the table ("table") or an index."""

    target: str
    partition: str
    wcu: float = 0.0
    rcu: float = 0.0
    stock: bool = False  # part of a write that changed the item's stock (STOCK_ATTRIBUTES): the table's or an index's


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    range_key: str | None
    indexes: tuple[Index, ...]

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> Table:
        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            by_type = {part["KeyType"]: part["AttributeName"] for part in schema}
            return by_type["HASH"], by_type.get("RANGE")

        hash_key, range_key = keys(description["KeySchema"])
        table_keys = tuple(k for k in (hash_key, range_key) if k)
        indexes = []
        for gsi in description.get("GlobalSecondaryIndexes", []):
            index_hash, index_range = keys(gsi["KeySchema"])
            projection = gsi.get("Projection", {})
            indexes.append(Index(gsi["IndexName"], index_hash, index_range, projection.get("ProjectionType", "ALL"),
                                 table_keys, tuple(projection.get("NonKeyAttributes", ()))))
        return cls(description["TableName"], hash_key, range_key, tuple(indexes))

    def key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in (self.hash_key, self.range_key) if name}

    def partition_of(self, key: dict[str, Any]) -> str:
        return _scalar(key[self.hash_key])

    def index(self, name: str) -> Index:
        return next(index for index in self.indexes if index.name == name)


def _stock_changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    return any((before or {}).get(name) != (after or {}).get(name) for name in STOCK_ATTRIBUTES
               if name in (before or {}) or name in (after or {}))


def write_usage(table: Table, key: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None, *,
                transactional: bool, applied: bool) -> list[Usage]:
    """What one item write took: the table's units on its partition, and each index's it changed.

    A refused write (condition false, transaction cancelled) and a ConditionCheck change nothing: they cost
    the table the item as it was, and no index anything."""
    after = after if applied else before
    size, stock = max(item_size(before), item_size(after)), applied and _stock_changed(before, after)
    usages = [Usage("table", table.partition_of(key), wcu=write_units(size, transactional=transactional), stock=stock)]
    if applied:
        for index in table.indexes:
            usages.extend(Usage(index.name, partition, wcu=units, stock=stock)
                          for partition, units in index_writes(index, before, after))
    return usages


def query_usage(target: str, partition: str, items: Iterable[dict[str, Any]], *, consistent: bool) -> Usage:
    """A Query's units: every item its key condition reached, summed, then rounded."""
    return Usage(target, partition, rcu=read_units(sum(item_size(i) for i in items), consistent=consistent))


# --- key classes, from the key design -----------------------------------------------------

_TAG = re.compile(r"[A-Z][A-Z0-9_]*")
_TAG_THEN_HASH = re.compile(r"[A-Z][A-Z0-9_]*#")


@dataclass(frozen=True)
class KeyClass:
    name: str  # e.g. "ORDERSTATUS#<status>": literal parts as the code writes them, the rest by name
    pattern: str
    origin: str  # the module whose key design says it

    @property
    def specificity(self) -> int:
        return len(re.sub(r"<[^>]*>", "", self.name))


def _placeholder(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id.lstrip("_")
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_")
    return "…"


def _parts(node: ast.AST, constants: dict[str, str]) -> list[tuple[bool, str]] | None:
    """An expression building a string, as (is literal, text) parts; None if it builds none."""
    if isinstance(node, ast.JoinedStr):
        parts: list[tuple[bool, str]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append((True, str(value.value)))
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) \
                    and value.value.id in constants:
                parts.append((True, constants[value.value.id]))
            elif isinstance(value, ast.FormattedValue):
                parts.append((False, _placeholder(value.value)))
        return parts
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _parts(node.left, constants), _parts(node.right, constants)
        if left is None and right is None:  # arithmetic, or strings this module cannot see
            return None
        return (left or [(False, _placeholder(node.left))]) + (right or [(False, _placeholder(node.right))])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(True, node.value)]
    if isinstance(node, ast.Name) and node.id in constants:
        return [(True, constants[node.id])]
    return None


def _key_class(parts: list[tuple[bool, str]], origin: str) -> KeyClass | None:
    merged: list[tuple[bool, str]] = []
    for literal, text in parts:
        if merged and literal and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + text)
        elif text or not literal:
            merged.append((literal, text))
    if not merged or not merged[0][0]:
        return None
    head = merged[0][1]
    if len(merged) == 1:  # a whole key: a tag such as OUTBOX or PAYMENTDUE
        if not _TAG.fullmatch(head):
            return None
        return KeyClass(head, re.escape(head), origin)
    if not _TAG_THEN_HASH.match(head):  # a template must start with its tag: "ORDERSTATUS#{status}"
        return None
    name = "".join(text if literal else f"<{text}>" for literal, text in merged)
    pattern = "".join(re.escape(text) if literal else "(.+)" for literal, text in merged)
    return KeyClass(name, pattern, origin)


def _called_name(node: ast.AST) -> str | None:
    """The name a call calls: `tagged(...)`, `keys.order_pk(...)`."""
    if not isinstance(node, ast.Call):
        return None
    return node.func.id if isinstance(node.func, ast.Name) else node.func.attr \
        if isinstance(node.func, ast.Attribute) else None


def _tagged_keys(tree: ast.Module) -> dict[str, str]:
    """Key functions a module makes with `tagged("TAG")` (chalicelib/core/ids.py, giving "TAG#<value>"): name -> tag."""
    return {target.id: node.value.args[0].value for node in tree.body if isinstance(node, ast.Assign)
            and _called_name(node.value) == "tagged" and len(node.value.args) == 1
            and isinstance(node.value.args[0], ast.Constant) and isinstance(node.value.args[0].value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def _value_names(trees: dict[pathlib.Path, ast.Module], functions: dict[tuple[pathlib.Path, str], str]) \
        -> dict[tuple[pathlib.Path, str], str]:
    """What each `tagged` key function is called with, named as its callers name it (`status_partition(status)`:
    "status"): the commonest name in its own package's calls, else in all calls, else from the function's name."""
    calls: dict[tuple[pathlib.Path | None, str], Counter] = defaultdict(Counter)
    names = {name for _, name in functions}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            called = _called_name(node)
            if called in names and node.args and _placeholder(node.args[0]) != "…":
                calls[(path.parent, called)][_placeholder(node.args[0])] += 1
                calls[(None, called)][_placeholder(node.args[0])] += 1
    found = {}
    for package, name in functions:
        counted = calls.get((package, name)) or calls.get((None, name))
        stem = re.sub(r"_(pk|partition|key)$", "", name)
        named = counted.most_common(1)[0][0] if counted else None
        # `order_pk(order.id)`: an attribute named just "id" says less than the function's own name
        found[(package, name)] = named if named not in (None, "id") else \
            f"{stem}_id" if name.endswith("_pk") else stem
    return found


def key_classes(package: pathlib.Path = ROOT / "chalicelib") -> list[KeyClass]:
    """Every key tag and template the code spells: module-level constants ("OUTBOX"), key functions made with
    `tagged("ORDERSTATUS")`, f-strings and concatenations starting with a tag ("AUDIT#{entity_type}#{entity_id}").
    The key modules are read first, so where two places spell the same key, theirs names it."""
    found: dict[str, KeyClass] = {}
    paths = sorted(package.rglob("*.py"), key=lambda p: (p.name != "keys.py", str(p)))
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in paths}
    tagged = {(path.parent, name): tag for path, tree in trees.items() for name, tag in _tagged_keys(tree).items()}
    value_names = _value_names(trees, tagged)
    for path, tree in trees.items():
        origin = str(path.relative_to(package.parent))
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for target in node.targets if isinstance(target, ast.Name)}
        candidates: list[KeyClass | None] = [_key_class([(True, value)], origin) for value in constants.values()]
        candidates += [_key_class([(True, f"{tag}#"), (False, value_names[(path.parent, name)])], origin)
                       for name, tag in _tagged_keys(tree).items()]
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr | ast.BinOp):
                parts = _parts(node, constants)
                if parts and any(not literal for literal, _ in parts):
                    candidates.append(_key_class(parts, origin))
        for candidate in candidates:
            if candidate is not None and candidate.pattern not in found:
                found[candidate.pattern] = candidate
    return list(found.values())


class Classifier:
    def __init__(self, classes: list[KeyClass]):
        self.classes = [(re.compile(c.pattern), c) for c in sorted(classes, key=lambda c: -c.specificity)]
        self.unclassified: set[str] = set()

    def __call__(self, value: str) -> str:
        spread = sharded_base(value.removesuffix("#<shard>") + "#00" if value.endswith("#<shard>") else value,
                              spread_counts())
        if spread:  # a shard of a sharded key: classified as its base, with its shards named
            return f"{self(spread[0])}#<shard of {spread[1]}>"
        for pattern, key_class in self.classes:
            if pattern.fullmatch(value):
                return key_class.name
        self.unclassified.add(value)
        return f"{value} (in no key module)"


# --- recording ------------------------------------------------------------------------------

@dataclass
class Invocation:
    """One operation of a run: an HTTP request, one function invocation, or a sweep."""

    scenario: str
    operation: str
    function: str
    order: int | None  # the order it belongs to; None: not per order (the schedule)
    messages: int = 0  # queue messages handed to it (0 for HTTP)
    usages: list[Usage] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)  # "service.Operation" -> calls
    wall_ms: float = 0.0  # the operation's own time (the recorder's reads taken out)
    aws_ms: float = 0.0  # of which, in AWS calls (answered by the emulator)
    log_bytes: int = 0  # what it logged at INFO and above (the prod level), metrics included
    events: int = 0  # events published, in 64 KB chunks
    event_bytes: int = 0
    unmodelled: list[str] = field(default_factory=list)

    @property
    def http(self) -> bool:
        return self.messages == 0 and self.function == "api_handler"

    @property
    def app_ms(self) -> float:
        return max(self.wall_ms - self.aws_ms, 0.0)

    def billed_ms(self, memory_mb: int) -> float:
        """Its modelled duration on Lambda (see VCPU_MEMORY_MB and CALL_LATENCY_MS)."""
        waits = sum(n * CALL_LATENCY_MS.get(call, CALL_LATENCY_MS.get(call.split(".")[0], DEFAULT_CALL_LATENCY_MS))
                    for call, n in self.requests.items())
        return self.app_ms * max(1.0, VCPU_MEMORY_MB / memory_mb) + waits


class _LogSink(io.TextIOBase):
    """Counts the bytes of log lines at INFO and above (plus lines that are not JSON, e.g. EMF)."""

    def __init__(self) -> None:
        self.bytes, self._pending = 0, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._count(line)
        return len(text)

    def _count(self, line: str) -> None:
        if not line.strip():
            return
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(line).get("level") == "DEBUG":
                return
        self.bytes += len(line.encode()) + 1

    def close_count(self) -> int:
        if self._pending:
            self._count(self._pending)
            self._pending = ""
        return self.bytes


_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"})


def _typed(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes in the client API's wire format, also when given as plain values (the resource API's)."""
    if all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPES for v in attributes.values()):
        return attributes
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in attributes.items()}


# What reading a request's items can raise when its shape is not the client API's (e.g. the resource API's plain
# values): the request is listed as unmodelled rather than guessed at.
_UNREADABLE = (KeyError, TypeError, ValueError, StopIteration, AttributeError, BotoCoreError, ClientError)


class Recorder:
    """Sees every AWS call of the process while installed; records the ones made inside `operation()`.

    `reader` is a DynamoDB client with the emulator's operator keys: it reads items before and after
    each write (and replays queries without their filters), outside any function's identity."""

    def __init__(self, reader: Any):
        self.reader = reader
        self.invocations: list[Invocation] = []
        self._current: Invocation | None = None
        self._tables: dict[str, Table] = {}
        self._overhead = 0.0

    # installing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def installed(self) -> Iterator[Recorder]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if recorder._current is None:
                return original(client, operation, params)
            return recorder._record(original, client, operation, params)

        BaseClient._make_api_call = make_api_call
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    @contextlib.contextmanager
    def operation(self, scenario: str, name: str, *, function: str, order: int | None,
                  messages: int = 0) -> Iterator[Invocation]:
        invocation = Invocation(scenario, name, function, order, messages)
        sink = _LogSink()
        self._current, self._overhead = invocation, 0.0
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sink):
                yield invocation
        finally:
            invocation.wall_ms = (time.perf_counter() - start - self._overhead) * 1000
            invocation.log_bytes = sink.close_count()
            self._current = None
            self.invocations.append(invocation)

    # reading, unrecorded --------------------------------------------------------------
    def _quietly(self, call: Callable[[], Any]) -> Any:
        """As the emulator's operator (no function identity in an empty context), not recorded."""
        current, self._current = self._current, None
        start = time.perf_counter()
        try:
            return contextvars.Context().run(call)
        finally:
            self._overhead += time.perf_counter() - start
            self._current = current

    def table(self, name: str) -> Table:
        if name not in self._tables:
            described = self._quietly(lambda: self.reader.describe_table(TableName=name))["Table"]
            self._tables[name] = Table.from_description(described)
        return self._tables[name]

    def _item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._quietly(lambda: self.reader.get_item(TableName=table, Key=key, ConsistentRead=True)).get("Item")

    # recording ------------------------------------------------------------------------
    def _record(self, original: Callable, client: Any, operation: str, params: dict[str, Any]) -> Any:
        invocation = self._current
        assert invocation is not None
        service = client.meta.service_model.service_name
        invocation.requests[f"{service}.{operation}"] += 1
        if service == "events" and operation == "PutEvents":
            for entry in params.get("Entries", []):
                size = sum(len(str(entry.get(k, "")).encode()) for k in ("Source", "DetailType", "Detail"))
                invocation.events += max(1, math.ceil(size / EVENT_CHUNK_BYTES))
                invocation.event_bytes += size
        if service != "dynamodb":
            return self._timed(invocation, original, client, operation, params)
        try:
            writes = self._writes(operation, params)
            befores = [self._item(table, key) for table, key, _, _ in writes]
        except _UNREADABLE as error:  # a request this model cannot read: said at the end, never guessed at
            invocation.unmodelled.append(f"{operation}: {error!r}")
            return self._timed(invocation, original, client, operation, params)
        try:
            response = self._timed(invocation, original, client, operation, params)
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
            if writes and code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                for (table, key, transactional, _), before in zip(writes, befores):
                    invocation.usages += write_usage(self.table(table), key, before, before,
                                                     transactional=transactional, applied=False)
            raise
        try:
            for (table, key, transactional, check), before in zip(writes, befores):
                after = before if check else self._item(table, key)
                invocation.usages += write_usage(self.table(table), key, before, after,
                                                 transactional=transactional, applied=not check)
            if not writes:
                self._reads(invocation, operation, params, response)
        except _UNREADABLE as error:
            invocation.unmodelled.append(f"{operation}: {error!r}")
        return response

    @staticmethod
    def _timed(invocation: Invocation, original: Callable, client: Any, operation: str,
               params: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return original(client, operation, params)
        finally:
            invocation.aws_ms += (time.perf_counter() - start) * 1000

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict, bool, bool]]:
        """(table, key, transactional, is a ConditionCheck) of every item a write request names."""
        def key(table: str, request: dict[str, Any]) -> dict[str, Any]:
            return _typed(request["Key"]) if "Key" in request else self.table(table).key_of(_typed(request["Item"]))

        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [(params["TableName"], key(params["TableName"], params), False, False)]
        if operation == "TransactWriteItems":
            found = []
            for item in params["TransactItems"]:
                (kind, request), = item.items()
                found.append((request["TableName"], key(request["TableName"], request), True, kind == "ConditionCheck"))
            return found
        if operation == "BatchWriteItem":
            return [(table, key(table, next(iter(r.values()))), False, False)
                    for table, requests in params["RequestItems"].items() for r in requests]
        return []

    def _reads(self, invocation: Invocation, operation: str, params: dict[str, Any], response: dict) -> None:
        def item_read(table: str, key: dict[str, Any], consistent: bool, transactional: bool = False) -> Usage:
            key = _typed(key)
            size = item_size(self._item(table, key))
            return Usage("table", self.table(table).partition_of(key),
                         rcu=read_units(size, consistent=consistent, transactional=transactional))

        if operation == "GetItem":
            invocation.usages.append(item_read(params["TableName"], params["Key"], bool(params.get("ConsistentRead"))))
        elif operation == "BatchGetItem":
            unprocessed = response.get("UnprocessedKeys", {})
            for table, request in params["RequestItems"].items():
                left = unprocessed.get(table, {}).get("Keys", [])
                invocation.usages += [item_read(table, key, bool(request.get("ConsistentRead")))
                                      for key in request["Keys"] if key not in left]
        elif operation == "TransactGetItems":
            invocation.usages += [item_read(i["Get"]["TableName"], i["Get"]["Key"], True, transactional=True)
                                  for i in params["TransactItems"]]
        elif operation == "Query" and "KeyConditionExpression" in params:
            invocation.usages.append(self._query(params))
        elif operation not in ("DescribeTable", "DescribeTimeToLive"):
            invocation.unmodelled.append(operation)

    def _query(self, params: dict[str, Any]) -> Usage:
        """The Query again, without its filter and projection: what DynamoDB read to answer it."""
        table = self.table(params["TableName"])
        index = table.index(params["IndexName"]) if params.get("IndexName") else None
        condition = params["KeyConditionExpression"]
        names, values = params.get("ExpressionAttributeNames", {}), params.get("ExpressionAttributeValues", {})
        hash_key = index.hash_key if index else table.hash_key
        partition = next(_scalar(values[value]) for name, value in re.findall(r"(#?[\w.]+)\s*=\s*(:\w+)", condition)
                         if names.get(name, name) == hash_key)
        used = set(re.findall(r"[#:]\w+", condition))
        replay = {k: params[k] for k in ("TableName", "IndexName", "KeyConditionExpression", "ExclusiveStartKey",
                                         "Limit", "ScanIndexForward", "ConsistentRead") if k in params}
        if names:
            replay["ExpressionAttributeNames"] = {k: v for k, v in names.items() if k in used}
        replay["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in used}
        items = self._quietly(lambda: self.reader.query(**replay)).get("Items", [])
        consistent = bool(params.get("ConsistentRead")) and index is None
        return query_usage(index.name if index else "table", partition, items, consistent=consistent)


# --- driving the shop -------------------------------------------------------------------------

@dataclass
class Consumer:
    name: str
    queue_url: str
    queue_name: str
    batch_size: int


class ShopRun:
    """The shop driven as its users and AWS drive it, each step recorded as one operation."""

    def __init__(self, client: Any, recorder: Recorder, sqs: Any):
        from chalice.app import SQSEventConfig

        self.client, self.recorder, self.sqs = client, recorder, sqs
        self.method_id = ""  # the shipping method every customer chooses (made by staff in `drive`)
        self.consumers = [Consumer(source.name, sqs.get_queue_url(QueueName=source.queue)["QueueUrl"], source.queue,
                                   source.batch_size)
                          for source in client._app.event_sources if isinstance(source, SQSEventConfig)]

    def step(self, scenario: str, name: str, order: int | None, *, function: str = "api_handler",
             messages: int = 0) -> contextlib.AbstractContextManager[Invocation]:
        return self.recorder.operation(scenario, name, function=function, order=order, messages=messages)

    def deliver(self, scenario: str | None, order: int | None) -> None:
        """Hand every queued message to its function, batch by batch, until no queue holds any: what
        Lambda's event source mappings do. Recorded under `scenario` unless it is None."""
        from tests.shop import sqs_event

        busy = True
        while busy:
            busy = False
            for consumer in self.consumers:
                messages = self.sqs.receive_message(QueueUrl=consumer.queue_url, WaitTimeSeconds=0,
                                                    MaxNumberOfMessages=min(consumer.batch_size, 10)).get("Messages", [])
                if not messages:
                    continue
                busy = True
                event = sqs_event(self.client, [m["Body"] for m in messages], queue=consumer.queue_name)
                step = self.step(scenario, consumer.name, order, function=consumer.name, messages=len(messages)) \
                    if scenario else contextlib.nullcontext()
                with step:
                    answer = self.client.lambda_.invoke(consumer.name, event).payload
                if (answer or {}).get("batchItemFailures"):
                    raise RuntimeError(f"{consumer.name} failed messages of the run: {answer}")
                self.sqs.delete_message_batch(QueueUrl=consumer.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    def order(self, scenario: str, number: int, product_id: str, *, paid: bool = True) -> dict:
        """One customer's order of one unit, as the customer and staff make it: into the basket, shipped to an
        address by a method, checked out, made by the queue, paid (the provider's signed webhook), shipped and
        delivered by staff. Every event's consumers run after each step."""
        from tests.fakes import ADMIN, auth
        from tests.shop import ADDRESS, call, checkout, pay, put_in_basket

        customer = auth(f"{scenario}-customer-{number}")
        with self.step(scenario, "PUT /basket/items/{variant_id}", number):
            put_in_basket(self.client, customer, product_id, 1)
        with self.step(scenario, "PUT /basket/shipping-address", number):
            self._expect(call(self.client, "put", "/basket/shipping-address", ADDRESS, customer), 200)
        with self.step(scenario, "PUT /basket/shipping-method", number):
            self._expect(call(self.client, "put", "/basket/shipping-method", {"id": self.method_id}, customer), 200)
        with self.step(scenario, "POST /basket/checkout", number):
            accepted = self._expect(checkout(self.client, customer, ship=False), 202)
        self.deliver(scenario, number)
        order = call(self.client, "get", f"/orders/{accepted.json['orderId']}", headers=customer).json
        if not paid:
            return order
        with self.step(scenario, "POST /webhooks/payments", number):
            answer = self._expect(pay(self.client, order), 200)
        if answer.json.get("orderStatus") != "PAID":
            raise RuntimeError(f"payment not applied in the run: {answer.body}")
        self.deliver(scenario, number)
        with self.step(scenario, "POST /admin/orders/{order_id}/shipments", number):
            shipment = self._expect(call(self.client, "post", f"/admin/orders/{order['id']}/shipments",
                                         {"carrier": "DHL", "trackingNumber": f"T{number}"},
                                         {**ADMIN, "Idempotency-Key": f"ship-{order['id']}"}), 201).json
        self.deliver(scenario, number)
        with self.step(scenario, "POST /admin/orders/{order_id}/shipments/{shipment_id}/delivered", number):
            self._expect(call(self.client, "post", f"/admin/orders/{order['id']}/shipments/{shipment['id']}/delivered",
                              headers=ADMIN), 200)
        self.deliver(scenario, number)
        return order

    def refund(self, scenario: str, order: dict) -> None:
        """Staff refund a paid order in full; the payment_provider function takes the request (the generic provider's
        refunds are confirmed by its webhook), and the provider's signed webhook confirms it."""
        from tests.fakes import ADMIN
        from tests.shop import call, pay

        with self.step(scenario, "POST /admin/orders/{order_id}/refunds", 0):
            refund = self._expect(call(self.client, "post", f"/admin/orders/{order['id']}/refunds",
                                       {"reason": "capacity run"},
                                       {**ADMIN, "Idempotency-Key": f"refund-{order['id']}"}), 201).json
        self.deliver(scenario, 0)
        with self.step(scenario, "POST /webhooks/payments (refund.succeeded)", 0):
            self._expect(pay(self.client, order, "refund.succeeded", refundId=refund["id"]), 200)
        self.deliver(scenario, 0)

    @staticmethod
    def _expect(response: Any, status: int) -> Any:
        if response.status_code != status:
            raise RuntimeError(f"the run expected {status}, the shop answered {response.status_code}: {response.body}")
        return response

    def sweep(self, scenario: str, name: str, order: int | None) -> dict:
        from tests.shop import sweep

        with self.step(scenario, name, order, function="housekeeping"):
            report = sweep(self.client)
        self.deliver(scenario, order)
        return report


SHOP, HOT, UNPAID, REFUND = "shop", "hot_sku", "unpaid", "refund"
# The stock items of the hot SKUs the run spread: {its sale record's partition key value: how many items}.
STOCK_SPREAD: dict[str, int] = {}


def hot_scenario(shards: int) -> str:
    """The run of one hot SKU whose stock is on `shards` items."""
    return HOT if shards == 1 else f"{HOT}@{shards}"
UNRECORDED = ("warm-up",)  # operations run for what they leave behind, not for their units
SWEEP = "housekeeping (one scheduled run)"


def drive(client: Any, recorder: Recorder, sqs: Any, orders: int, *, warm_up: bool = True) -> None:
    """The runs the model reads: `orders` orders of as many customers over as many products of one category
    (the shop), as many of one product (the hot SKU), an order left unpaid until the sweeper expires it, and a
    paid order refunded. The shop first has what a checkout needs: a shipping method and a tax rate where it ships."""
    from datetime import timedelta

    from chalicelib.core.ids import now, set_clock
    from tests.fakes import ADMIN
    from tests.shop import ADDRESS, STANDARD_SHIPPING, call, product

    run = ShopRun(client, recorder, sqs)
    run.method_id = run._expect(call(client, "post", "/admin/shipping-methods", STANDARD_SHIPPING, ADMIN), 201).json["id"]
    run._expect(call(client, "put", f"/admin/tax-rates/{ADDRESS['country']}/standard", {"ratePercent": 21}, ADMIN), 200)
    from chalicelib.catalogue import keys

    products = [product(client, stock=1_000, category="capacity")["id"] for _ in range(orders + 1)]
    hot = {}
    for shards in SHARD_COUNTS:  # one hot SKU per stock layout, staff spreading its stock as they would
        made = product(client, stock=10 * orders + 1_000, category="capacity")
        variant = made["variants"][0]
        if shards > 1:
            run._expect(call(client, "patch", f"/products/{made['id']}/variants/{variant['id']}",
                             {"stockShards": shards, "version": variant["version"]}, ADMIN), 200)
            STOCK_SPREAD[keys.stock_pk(variant["id"])] = shards
        hot[shards] = made["id"]
    run.deliver(None, None)  # the setup's own events
    if warm_up:  # imports and first-use work out of the measured requests (their time, not their units)
        run.order("warm-up", 0, products[-1])
    placed = [run.order(SHOP, number, products[number]) for number in range(orders)]
    run.sweep(SHOP, SWEEP, None)
    for shards, product_id in hot.items():
        for number in range(orders):
            run.order(hot_scenario(shards), number, product_id)
    run.refund(REFUND, placed[0])  # delivered, then refunded in full
    run.order(UNPAID, 0, products[0], paid=False)
    later = now() + timedelta(days=1)
    set_clock(lambda: later)  # past any payment window
    try:
        report = run.sweep(UNPAID, "housekeeping (expires the unpaid order)", 0)
    finally:
        set_clock(None)
    if report.get("cancelledUnpaid") != 1:
        raise RuntimeError(f"the sweeper did not expire the unpaid order: {report}")


# --- the model ------------------------------------------------------------------------------

@dataclass
class Load:
    """What a run's orders took from one partition key value (of the table or an index): units in all, and
    which of the run's `checkouts` orders took them."""

    wcu: float = 0.0
    rcu: float = 0.0
    stock_wcu: float = 0.0  # of `wcu`, the stock items' own writes
    orders: set = field(default_factory=set)
    checkouts: int = 1

    @property
    def shared(self) -> bool:
        return len(self.orders) > 1

    def per_checkout(self, units: float) -> float:
        """`units` of this partition per checkout; for a partition of one order's own, that order's."""
        return units / (self.checkouts if self.shared else max(len(self.orders), 1))


def orders_of(invocations: list[Invocation], scenario: str) -> int:
    return len({i.order for i in invocations if i.scenario == scenario and i.order is not None})


def sharded_base(partition: str, counts: dict[str, int], whole: Iterable[str] = ()) -> tuple[str, int] | None:
    """(base, shards) of a partition key value written in a shard (`<base>#<nn>`, chalicelib/core/shards.py), or
    that is itself the first shard of its base (`whole`: a spread variant's sale record, the first of its stock
    items)."""
    if partition in whole and partition in counts:
        return partition, counts[partition]
    base, _, suffix = partition.rpartition("#")
    return (base, counts[base]) if suffix.isdigit() and len(suffix) in (2, 3) and base in counts else None


def spread_counts() -> dict[str, int]:
    """Every key the shop spreads over shards (chalicelib/core/shards.py) and the stock items of the run's spread
    hot SKUs."""
    from chalicelib.core.shards import counts

    return {**counts(), **STOCK_SPREAD}


def loads(invocations: list[Invocation], scenario: str,
          counts: dict[str, int] | None = None) -> dict[tuple[str, str], Load]:
    """Per (target, partition key value): the units of every per-order operation of the run. A sharded key's
    shards are one load, `<base>#<shard>`: the units of all its shards over their number (the shard is chosen by
    a hash of the item's id, so each takes its share), the orders of all of them."""
    if counts is None:
        counts = spread_counts()
    count = orders_of(invocations, scenario)
    found: dict[tuple[str, str], Load] = defaultdict(lambda: Load(checkouts=count))
    for invocation in invocations:
        if invocation.scenario != scenario or invocation.order is None:
            continue
        for usage in invocation.usages:
            spread = sharded_base(usage.partition, counts, STOCK_SPREAD)
            partition, shares = (f"{spread[0]}#<shard>", spread[1]) if spread else (usage.partition, 1)
            load = found[(usage.target, partition)]
            load.wcu += usage.wcu / shares
            load.rcu += usage.rcu / shares
            load.stock_wcu += usage.wcu / shares if usage.stock and usage.target == "table" else 0.0
            load.orders.add(invocation.order)
    return dict(found)


@dataclass(frozen=True)
class KeyRow:
    key_class: str
    index: str
    units: str  # WCU or RCU
    units_per_checkout: float
    max_per_s: int | None  # None: a partition of one order's own, not shared
    partition: str  # the hottest partition key value of the class

    def as_json(self) -> dict[str, Any]:
        return {"key_class": self.key_class, "index": self.index, "units": self.units,
                "units_per_checkout": round(self.units_per_checkout, 3), "max_per_s": self.max_per_s,
                "shared": self.max_per_s is not None}

    def partitions_for(self, target: int) -> int:
        """How many partition key values this load must spread over to take `target` checkouts/s."""
        return math.ceil(target * self.units_per_checkout / PARTITION_LIMITS[self.units])


def key_rows(per_partition: dict[tuple[str, str], Load], classify: Callable[[str], str]) -> list[KeyRow]:
    """One row per key class, index and unit: the hottest partition's units per checkout, and the checkouts
    per second that partition takes (shared partitions only)."""
    grouped: dict[tuple[str, str, str], list[tuple[float, bool, str]]] = defaultdict(list)
    for (target, partition), load in per_partition.items():
        for units, amount in (("WCU", load.wcu), ("RCU", load.rcu)):
            if amount > 0:
                grouped[(classify(partition), target, units)].append((load.per_checkout(amount), load.shared,
                                                                      partition))
    rows = []
    for (key_class, target, units), amounts in grouped.items():
        shared = [a for a in amounts if a[1]]
        amount, _, partition = max(shared or amounts)
        ceiling = math.floor(PARTITION_LIMITS[units] / amount) if shared else None
        rows.append(KeyRow(key_class, target, units, amount, ceiling, partition))
    return sorted(rows, key=lambda r: (r.max_per_s is None, r.max_per_s or 0, r.key_class, r.index, r.units))


def ceiling(rows: list[KeyRow]) -> KeyRow | None:
    """The shared key that takes the fewest checkouts per second (None: no partition is shared)."""
    return next((row for row in rows if row.max_per_s is not None), None)


class ModelError(RuntimeError):
    pass


def stock_partitions(per_partition: dict[tuple[str, str], Load]) -> dict[tuple[str, str], Load]:
    found = {key: load for key, load in per_partition.items() if load.stock_wcu > 0}
    if not found:
        raise ModelError(f"no write changed {' or '.join(STOCK_ATTRIBUTES)} in the hot SKU's run: the model cannot "
                         "find the items holding stock (has the attribute been renamed? see STOCK_ATTRIBUTES)")
    return found


def hot_sku(invocations: list[Invocation], classify: Callable[[str], str],
            shard_counts: Iterable[int] = SHARD_COUNTS, counts: dict[str, int] | None = None
            ) -> dict[str, dict[str, Any]]:
    """Per shard count, from the run of the hot SKU whose stock staff spread over that many items: its ceiling
    (every shared key of its checkouts) and its stock items' own. A spread SKU's items are one load, each its
    share: a sale takes from one chosen at random, so each takes its share of the sales."""
    result = {}
    for shards in shard_counts:
        per_partition = loads(invocations, hot_scenario(shards), counts)
        stock_keys = set(stock_partitions(per_partition))
        rows = key_rows(per_partition, classify)
        stock_rows = key_rows({k: v for k, v in per_partition.items() if k in stock_keys}, classify)
        result[str(shards)] = {"rows": rows, "limit": ceiling(rows), "stock_limit": ceiling(stock_rows),
                               "stock_classes": frozenset(classify(partition) for _, partition in stock_keys)}
    return result


def stock_layout(invocations: list[Invocation], scenario: str, classify: Callable[[str], str]) -> dict[str, Any]:
    """Where the run's stock writes landed: on how many partition key values of the table (which classes),
    and which index entries they rewrote. What the code does today, read from what it did."""
    stock = [u for i in invocations if i.scenario == scenario for u in i.usages if u.stock]
    return {"partitions": len({u.partition for u in stock if u.target == "table"}),
            "key_classes": sorted({classify(u.partition) for u in stock if u.target == "table"}),
            "index_entries": sorted({f"{u.target} {classify(u.partition)}" for u in stock if u.target != "table"})}


# --- what an order costs ----------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    """What the prod stage configures: each function's memory, the architecture, queue batch sizes, and
    the resources that bill per request (the API's access log line, the bus's archive)."""

    memory_mb: dict[str, int]
    architecture: str
    batch_sizes: dict[str, int]
    access_log_bytes: int
    archived: bool

    @classmethod
    def of(cls, functions: Iterable[str], batch_sizes: dict[str, int], stage: str = "prod") -> Deployment:
        from chalice.config import Config

        config = json.loads((ROOT / ".chalice" / "config.json").read_text())
        chalice = Config(chalice_stage=stage, config_from_disk=config)
        memory = {name: chalice.scope(stage, name).lambda_memory_size for name in functions}
        template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
        log_format = next(iter(_values_of(template, "AccessLogSetting")), {}).get("Format", "")
        access_log = len(re.sub(r"\$context\.[\w.]+", "x" * ACCESS_LOG_VALUE_CHARS, log_format)) if log_format else 0
        archived = any(r.get("Type") == "AWS::Events::Archive" for r in template.get("Resources", {}).values())
        return cls(memory, config.get("lambda_architecture", "x86_64"), batch_sizes, access_log, archived)


def _values_of(document: Any, name: str) -> Iterator[Any]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == name:
                yield value
            yield from _values_of(value, name)
    elif isinstance(document, list):
        for value in document:
            yield from _values_of(value, name)


def usage_per_order(invocations: list[Invocation], deployment: Deployment) -> dict[str, float]:
    """What the billed services count for the orders of `invocations` (all of one scenario), per order.

    A queue's function is invoked with full batches under load: its invocations are its messages over its
    batch size; its time is what the run's invocations took (`Invocation.billed_ms`: each order's messages
    were handed over on their own, so a batch's once-per-call work is counted per message, a little high).
    Each message on a queue was sent by a bus rule, received and deleted (a receive and a delete per batch)."""
    count = len({i.order for i in invocations})
    totals: Counter = Counter()
    for invocation in invocations:
        memory = deployment.memory_mb[invocation.function]
        billed_ms = invocation.billed_ms(memory)
        if invocation.messages:
            batch = deployment.batch_sizes[invocation.function]
            invocations_billed = invocation.messages / batch
            totals["sqs_requests"] += invocation.messages * (1 + 2 / batch)
        else:
            invocations_billed = 1
            billed_ms = math.ceil(billed_ms)  # Lambda bills whole milliseconds
        totals["lambda_gb_seconds"] += billed_ms / 1000 * memory / 1024
        if invocation.http:
            totals["api_gateway_requests"] += 1
            totals["log_bytes"] += deployment.access_log_bytes
        totals["lambda_requests"] += invocations_billed
        totals["log_bytes"] += invocation.log_bytes + invocations_billed * LAMBDA_PLATFORM_LOG_BYTES
        totals["dynamodb_write_units"] += sum(u.wcu for u in invocation.usages)
        totals["dynamodb_read_units"] += sum(u.rcu for u in invocation.usages)
        totals["eventbridge_events"] += invocation.events
        totals["eventbridge_archive_bytes"] += invocation.event_bytes if deployment.archived else 0
        totals["sqs_requests"] += sum(n for name, n in invocation.requests.items() if name.startswith("sqs."))
    return {name: amount / count for name, amount in totals.items()}


def cost(usage: dict[str, float], architecture: str, prices: dict[str, Any] = PRICES) -> dict[str, dict[str, Any]]:
    """USD per 1,000 orders, per billed item, from the usage of one order."""
    gb = 1024 ** 3
    priced = {
        "lambda_compute": ("lambda_gb_seconds", "GB-second", prices["lambda_gb_second"][architecture]),
        "lambda_requests": ("lambda_requests", "invocation", prices["lambda_request"]),
        "api_gateway": ("api_gateway_requests", "REST request", prices["api_gateway_rest_request"]),
        "dynamodb_writes": ("dynamodb_write_units", "write request unit", prices["dynamodb_write_request_unit"]),
        "dynamodb_reads": ("dynamodb_read_units", "read request unit", prices["dynamodb_read_request_unit"]),
        "eventbridge_events": ("eventbridge_events", "custom event (64 KB chunk)", prices["eventbridge_event"]),
        "eventbridge_archive": ("eventbridge_archive_bytes", "byte archived", prices["eventbridge_archive_gb"] / gb),
        "sqs": ("sqs_requests", "request", prices["sqs_request"]),
        "cloudwatch_logs": ("log_bytes", "byte ingested", prices["cloudwatch_logs_gb"] / gb),
    }
    return {name: {"per_order": round(usage.get(measure, 0.0), 6), "unit": unit,
                   "usd_per_1000_orders": round(usage.get(measure, 0.0) * price * 1000, 6)}
            for name, (measure, unit, price) in priced.items()}


# --- the report ---------------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _rate(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def next_step(row: KeyRow, target: int, stock: bool = False) -> str:
    """What would lift `row`'s key class to `target` checkouts/s."""
    n = row.partitions_for(target)
    if stock:
        return (f"spread the hot SKU's stock ({row.key_class}) over >= {n} stock items (stockShards on the variant)"
                if row.units == "WCU" else
                f"read {row.key_class} from >= {n} stock items at random, not one (stockShards on the variant)")
    if row.units == "RCU":
        return (f"cache {row.key_class} in the functions (it changes rarely: read once a minute per container), "
                f"or keep >= {n} copies of it and read one at random")
    where = "" if row.index == "table" else f" on {row.index}"
    shards = re.search(r"#<shard of (\d+)>$", row.key_class)
    if shards:  # sharded already: each shard took its share, so the key needs that many times more
        total = int(shards.group(1)) * n
        return f"raise {row.key_class}{where} to >= {total} shards (chalicelib/core/shards.py), or take it off " \
               f"the order path"
    return f"shard {row.key_class}{where} over >= {n} partition key values (a suffix per item, readers merging " \
           f"the {n} queries in order), or take it off the order path"


def limit_of(row: KeyRow | None, target: int | None = None, rows: list[KeyRow] = (),
             stock_classes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A ceiling's limiting key; with a target, whether it is met and, if not, every shared key below it,
    how many partition key values each must spread over to reach it, and the next step for each."""
    found: dict[str, Any] = {} if row is None else {
        "key_class": row.key_class, "index": row.index, "units": row.units,
        "units_per_checkout": round(row.units_per_checkout, 3), "partition": row.partition}
    if target is not None:
        found.update(target=target, met=row is None or (row.max_per_s or 0) >= target)
        if row is not None and not found["met"]:
            found["next_step"] = next_step(row, target, row.key_class in stock_classes)
        found["below_target"] = [{"key_class": r.key_class, "index": r.index, "units": r.units, "max_per_s": r.max_per_s,
                                  "partitions_needed": r.partitions_for(target),
                                  "next_step": next_step(r, target, r.key_class in stock_classes)}
                                 for r in rows if r.max_per_s is not None and r.max_per_s < target]
    return found


def model(invocations: list[Invocation], classify: Callable[[str], str], deployment: Deployment) -> dict[str, Any]:
    """dist/capacity.json: the ceilings and what limits them, the shop's key classes, the cost per 1,000 orders."""
    shop_rows = key_rows(loads(invocations, SHOP), classify)
    shop_limit = ceiling(shop_rows)
    hot = hot_sku(invocations, classify)
    hot_targets = TARGETS["hot_sku_checkouts_per_s"]
    layouts = {str(shards): stock_layout(invocations, hot_scenario(shards), classify) for shards in SHARD_COUNTS}
    breakdown = cost(usage_per_order([i for i in invocations if i.scenario == SHOP and i.order is not None],
                                     deployment), deployment.architecture)
    sweeps = [i for i in invocations if i.scenario == SHOP and i.order is None]
    sweep_usd = sum(item["usd_per_1000_orders"] for item in
                    cost(usage_per_order(sweeps, deployment), deployment.architecture).values()) / 1000 if sweeps else 0
    return {
        "ceilings": {
            "shop_checkouts_per_s": shop_limit.max_per_s if shop_limit else None,
            "hot_sku_checkouts_per_s": {s: (h["limit"].max_per_s if h["limit"] else None) for s, h in hot.items()},
            "limited_by": {
                "shop": limit_of(shop_limit, TARGETS["shop_checkouts_per_s"], shop_rows),
                "hot_sku": {s: {**limit_of(h["limit"], hot_targets.get(s), h["rows"], h["stock_classes"]),
                                "stock_items": {"max_per_s": h["stock_limit"].max_per_s if h["stock_limit"] else None,
                                                **limit_of(h["stock_limit"])}}
                            for s, h in hot.items()},
                "hot_sku_stock_recorded": layouts,
                "stock_sharding": "measured: each shard count is a run of its own, a hot SKU whose stock staff "
                                  "spread over that many items (stockShards), its sales taking from items chosen "
                                  "at random; " + ", ".join(f"{s}: the run wrote stock on {layout['partitions']} "
                                                            f"item(s)" for s, layout in layouts.items()),
            },
        },
        "keys": [row.as_json() for row in shop_rows],
        "cost_per_1000_orders_usd": round(sum(item["usd_per_1000_orders"] for item in breakdown.values()), 4),
        "cost_breakdown": {
            **breakdown,
            "basis": {"region": "us-east-1", "architecture": deployment.architecture, "prices_as_of": PRICES_AS_OF,
                      "sources": PRICE_SOURCES, "memory_mb": deployment.memory_mb,
                      "order": "one unit in the basket, a shipping address and method chosen, checked out, made by the "
                               "queue, paid (the provider's signed webhook), shipped and delivered by staff; its "
                               "audit records, notifications and payment work; not counted: starting a card "
                               "payment (POST /orders/{id}/payment: one request, the provider's call, a write to the "
                               "order's own item)",
                      "not_per_order": {"housekeeping_schedule_usd_per_month": round(sweep_usd * 60 * 24 * 30, 4)},
                      "lambda_time": "each function's own code as measured in the run, scaled to the CPU share its "
                                     f"memory buys (one vCPU at {VCPU_MEMORY_MB} MB), plus an assumed wait per AWS "
                                     "call (CALL_LATENCY_MS)",
                      "not_included": "custom metrics (per metric-month), X-Ray traces (sampled), e-mail, "
                                      "data transfer, storage"},
        },
    }


def operations_report(invocations: list[Invocation], scenario: str, classify: Callable[[str], str],
                      deployment: Deployment, shared: set[tuple[str, str]],
                      only: set[tuple[str, str]] | None = None) -> list[str]:
    """Per operation of a run: its requests and time per order (or per run), then the units it takes from
    each key class (`only` those, when given), shared ones marked."""
    count = max(orders_of(invocations, scenario), 1)
    lines = []
    for name in dict.fromkeys(i.operation for i in invocations if i.scenario == scenario):
        chosen = [i for i in invocations if i.scenario == scenario and i.operation == name]
        per_order = chosen[0].order is not None
        divisor = count if per_order else len(chosen)
        memory = deployment.memory_mb[chosen[0].function]
        dynamo = sum(n for i in chosen for call, n in i.requests.items() if call.startswith("dynamodb."))
        app_ms = sum(i.app_ms for i in chosen) / divisor
        billed = sum(i.billed_ms(memory) for i in chosen) / divisor
        units: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for invocation in chosen:
            for usage in invocation.usages:
                row = units[(usage.target, classify(usage.partition))]
                row[0] += usage.wcu / divisor
                row[1] += usage.rcu / divisor
        rows = sorted((k, v) for k, v in units.items() if only is None or k in only)
        if only is not None and not rows:
            continue
        lines.append(f"  {name}  ({chosen[0].function}, {memory} MB; per {'order' if per_order else 'run'}: "
                     f"{_fmt(dynamo / divisor)} DynamoDB requests, {app_ms:.1f} ms in its code, "
                     f"~{billed:.0f} ms billed)")
        for (target, key_class), (wcu, rcu) in sorted(rows, key=lambda kv: (kv[0][0] != "table", kv[0])):
            mark = "  shared" if (target, key_class) in shared else ""
            lines.append(f"      {target:6} {key_class:34} {_fmt(wcu):>6} WCU {_fmt(rcu):>6} RCU{mark}")
    return lines


def _limit_text(limit: dict[str, Any]) -> str:
    return (f"{limit.get('key_class')} on {limit.get('index')} ({_fmt(limit.get('units_per_checkout', 0))} "
            f"{limit.get('units')} per checkout)")


def _below_target(limit: dict[str, Any]) -> list[str]:
    return [(f"      below {limit['target']:,}/s: {row['key_class']} on {row['index']} ({row['units']}), "
             f"{row['max_per_s']:,}/s; next: {row['next_step']}") for row in limit.get("below_target", [])]


def _ceilings_report(result: dict[str, Any]) -> list[str]:
    ceilings, limited = result["ceilings"], result["ceilings"]["limited_by"]
    shop = limited["shop"]
    out = ["Ceilings:",
           (f"  whole shop: {_rate(ceilings['shop_checkouts_per_s'])} checkouts/s, limited by {_limit_text(shop)}; "
            f"target {shop['target']:,}: {'met' if shop['met'] else 'MISSED'}")]
    out += _below_target(shop)
    for shards, value in ceilings["hot_sku_checkouts_per_s"].items():
        hot = limited["hot_sku"][shards]
        target = f"; target {hot['target']:,}: {'met' if hot['met'] else 'MISSED'}" if "target" in hot else ""
        out.append(f"  one hot SKU, stock over {shards:>2}: {_rate(value)} checkouts/s, limited by {_limit_text(hot)}"
                   f"{target}")
        out.append(f"      its stock's partitions alone: {_rate(hot['stock_items']['max_per_s'])}/s, limited by "
                   f"{_limit_text(hot['stock_items'])}")
        out += _below_target(hot)
    layout = limited["hot_sku_stock_recorded"]["1"]
    entries = ", ".join(layout["index_entries"]) or "no index entry"
    out.append(f"  What the code does: each stock change rewrote {entries}. A spread SKU's stock items are one "
               "load, each its share of the sales and every checkout's read of all of them. Concurrent "
               "transactions on one item cancel each other (TransactionConflict): the checkout retries them with "
               "jittered backoff and chooses other items when its own were emptied; the model counts the "
               "units of the transactions that succeed, not of those cancelled.")
    out.append(f"  Stock sharding: {limited['stock_sharding']}.")
    return out


def report(invocations: list[Invocation], result: dict[str, Any], classify: Callable[[str], str],
           deployment: Deployment) -> str:
    def shared_in(scenario: str) -> set[tuple[str, str]]:
        return {(target, classify(p)) for (target, p), load in loads(invocations, scenario).items() if load.shared}

    shop_shared, hot_shared = shared_in(SHOP), shared_in(hot_scenario(1))
    out = [(f"DynamoDB units per order, by operation: {orders_of(invocations, SHOP)} customers each buy one unit of "
            "a product of their own (all of one category), choose where it ships and how, check out, pay (the "
            "provider's signed webhook), and staff ship and deliver it; the queues' functions and a sweep included.")]
    out += operations_report(invocations, SHOP, classify, deployment, shop_shared)
    out += ["", "When every customer buys the same SKU, these keys are shared too:"]
    out += operations_report(invocations, hot_scenario(1), classify, deployment, hot_shared,
                             only=hot_shared - shop_shared)
    spread = hot_scenario(max(SHARD_COUNTS))
    out += ["", f"The same, its stock spread over {max(SHARD_COUNTS)} items (stockShards):"]
    out += operations_report(invocations, spread, classify, deployment, shared_in(spread),
                             only=shared_in(spread) - shop_shared)
    out += ["", "An order left unpaid, expired by the sweeper:"]
    out += operations_report(invocations, UNPAID, classify, deployment, set())
    out += ["", "A paid order refunded in full by staff, the provider confirming it:"]
    out += operations_report(invocations, REFUND, classify, deployment, set())
    out += ["", (f"Key classes per checkout (shared: touched by more than one order; one partition key value takes "
                 f"{PARTITION_LIMITS['WCU']:,} WCU/s and {PARTITION_LIMITS['RCU']:,} RCU/s):"),
            f"  {'key class':34} {'index':6} {'units':5} {'per checkout':>12} {'checkouts/s':>12}"]
    own = "  (one order's own)"
    out += [(f"  {row['key_class']:34} {row['index']:6} {row['units']:5} {_fmt(row['units_per_checkout']):>12} "
             f"{_rate(row['max_per_s']):>12}{'' if row['shared'] else own}") for row in result["keys"]]
    out += ["", *_ceilings_report(result)]
    items = result["cost_breakdown"]
    basis = items["basis"]
    out += ["", (f"Cost per 1,000 orders: ${result['cost_per_1000_orders_usd']:.4f} (AWS list prices, "
                 f"{basis['region']}, {basis['architecture']}, as of {basis['prices_as_of']})")]
    out += [f"  {name:20} ${item['usd_per_1000_orders']:.4f}   ({_fmt(item['per_order'])} {item['unit']} per order)"
            for name, item in items.items() if name != "basis"]
    out += [(f"  Not per order: the sweep once a minute, ${basis['not_per_order']['housekeeping_schedule_usd_per_month']}"
             f" a month. Not included: {basis['not_included']}. Lambda time: {basis['lambda_time']}.")]
    return "\n".join(out)


# --- running it -------------------------------------------------------------------------------

ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "STAGE": "local", "TABLE_NAME": "shop-local", "EVENT_BUS_NAME": "shop-local", "LOG_LEVEL": "INFO"}


def measure(client: Any, orders: int, *, warm_up: bool = True) -> list[Invocation]:
    """Drive the shop (a FunctionClient over a stack in the emulator) and record it."""
    import boto3

    session = boto3.session.Session()
    recorder = Recorder(contextvars.Context().run(lambda: session.client("dynamodb", region_name="us-east-1")))
    sqs = session.client("sqs", region_name="us-east-1")
    with recorder.installed(), contextlib.redirect_stdout(io.StringIO()):
        drive(client, recorder, sqs, orders, warm_up=warm_up)
    return [i for i in recorder.invocations if i.scenario not in UNRECORDED]


def run(orders: int) -> list[Invocation]:
    """A stack of its own in the emulator, in process, as the tests build it (tests/stack.py)."""
    import warnings

    from moto import mock_aws
    from moto.core.authorization import enable_iam_authentication

    sys.path.insert(0, str(ROOT))
    os.environ.update(ENVIRONMENT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    warnings.filterwarnings("ignore", message="CognitoUserPoolAuthorizer is not a supported in local mode")
    # The emulator as the local stack runs it (local/consistency.py): a cancelled transaction undoes the items it
    # named, not whole tables copied before it, and a Query reads its own partition; the same answers, in a third
    # less time (moto's copies grow with the table). This process is the run's own.
    from local import consistency

    consistency.install()
    with mock_aws(), enable_iam_authentication():
        from tests.stack import FunctionClient, create_stack

        stack = create_stack()
        os.environ.update(USER_POOL_ID=stack["user_pool_id"], USER_POOL_CLIENT_ID=stack["user_pool_client_id"])
        from app import app

        with FunctionClient(app, stage_name="local") as client:
            return measure(client, orders)


def build(invocations: list[Invocation], app: Any) -> tuple[dict[str, Any], str, Classifier]:
    from chalice.app import SQSEventConfig

    classify = Classifier(key_classes())
    sources = app.event_sources
    batch_sizes = {s.name: s.batch_size for s in sources if isinstance(s, SQSEventConfig)}
    deployment = Deployment.of({"api_handler", *(s.name for s in sources)}, batch_sizes)
    result = model(invocations, classify, deployment)
    return result, report(invocations, result, classify, deployment), classify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10, help="orders per run (at least 2: sharing needs two)")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args(argv)
    if args.orders < 2:
        parser.error("--orders must be at least 2")
    invocations = run(args.orders)
    from app import app

    result, text, classify = build(invocations, app)
    print(text)
    if classify.unclassified:
        print("\nPartition key values no key module spells (classified as themselves):",
              ", ".join(sorted(classify.unclassified)))
    unmodelled = sorted({op for i in invocations for op in i.unmodelled})
    if unmodelled:
        print("\nDynamoDB requests the model does not price (counted as 0 units):", ", ".join(unmodelled))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
