"""What the emulator promises when requests overlap: each request whole, as if alone (linearizable).

moto's server answers every request on its own thread, and its models hold no lock: two writers
interleave inside one table, a transaction that fails puts back a copy of every table it touched
(taken before it started, so writes committed meanwhile vanish), and copying a table another
request is changing raises mid-iteration (an HTTP 500). `install()` makes the server keep the
promises the shop relies on, with the simplest mechanism that is obviously right:

- one request at a time: every request to the emulator runs under one lock, its body read before
  and its answer written after, so each is atomic and they take effect in the order they ran.
  An SQS receive that waits for messages (long polling) lets go of the lock while it waits, as
  SQS lets other calls through meanwhile.
- a cancelled DynamoDB transaction undoes only the items it wrote: each item it names is copied
  before it starts and put back if it is cancelled (moto copied every table it touched, so a
  transaction's cost grew with the table).
- a DynamoDB Query on the table's key reads only its partition (moto sorted the whole table for
  each), and one on a secondary index sorts only the items of the index partition it names.
- what moto did for every request that grew with what the emulator holds, or cost far more than the
  request, is done once or directly: an SQS receive checks each message's retention period alone
  (moto computed every attribute of the queue, counting all its messages, for each message it handed
  out), SQS reads the clock directly, a bus parses each target's input paths once, the services
  moto serves are listed once (it read its package's folders for every request), names are
  converted once (a handler found by inspecting a class, an attribute name by a regular expression),
  and an update expression is parsed once per text.

Written against the moto releases `local.enforcement.TESTED_MOTO` names (checked there).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_holder = threading.local()
_after_request: list[Callable[[dict[str, Any]], None]] = []
_before_answer: list[Callable[[dict[str, Any]], None]] = []


@contextlib.contextmanager
def one_request() -> Iterator[None]:
    """The emulator to this thread alone, for one request."""
    with _lock:
        _holder.holds = True
        try:
            yield
        finally:
            _holder.holds = False


@contextlib.contextmanager
def others_admitted() -> Iterator[None]:
    """Inside a request: let other requests run meanwhile (the request waits for something they do)."""
    if not getattr(_holder, "holds", False):
        yield
        return
    _holder.holds = False
    _lock.release()
    try:
        yield
    finally:
        _lock.acquire()
        _holder.holds = True


def after_each_request(callback: Callable[[dict[str, Any]], None], *,
                       before_answer: Callable[[dict[str, Any]], None] | None = None) -> None:
    """`callback(environ)` at the end of every request, still alone; then `before_answer(environ)` once other
    requests may run again, before the answer leaves."""
    _after_request.append(callback)
    if before_answer is not None:
        _before_answer.append(before_answer)


def install() -> None:
    """Make the moto server in this process answer as described above (idempotent)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication, "_one_request_at_a_time", False):
        return
    _serialise_requests(DomainDispatcherApplication)
    _release_while_waiting_for_messages()
    _receive_reads_only_the_retention_period()
    _sqs_reads_the_clock_once()
    _input_paths_parsed_once()
    _services_listed_once()
    _names_converted_once()
    _update_expressions_parsed_once()
    _undo_only_touched_items()
    _query_only_what_a_key_can_match()
    DomainDispatcherApplication._one_request_at_a_time = True


def _serialise_requests(application: type) -> None:
    dispatch = application.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        _read_body_first(environ)  # a slow client never holds the lock
        with one_request():
            answer = dispatch(self, environ, start_response)
            try:
                body = [b"".join(answer)]  # produced inside: the body is the state as the request left it
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
            for callback in _after_request:
                callback(environ)
        for callback in _before_answer:
            callback(environ)
        return body

    application.__call__ = __call__


def keep_alive(handler: type) -> type:
    """moto's request handler (werkzeug's), keeping each connection open for the client's next request.

    werkzeug closes every connection after one answer, then lingers on it up to 10 ms to discard any body
    left unread (on an open connection that would swallow the next request). Here every body is read whole
    before the request is served, so nothing is ever left: the linger goes, and a client's requests no
    longer each pay for a new connection (and the emulator for a new thread)."""
    import werkzeug.serving

    class NothingLeftToRead:
        def register(self, *args: Any) -> None:
            pass

        def select(self, timeout: float | None = None) -> list:
            return []

        def close(self) -> None:
            pass

    werkzeug.serving.selectors = type("selectors", (), {"DefaultSelector": NothingLeftToRead,
                                                        "EVENT_READ": 1})

    class KeepAlive(handler):
        def setup(self) -> None:
            super().setup()
            # The status line and headers, then the body, go out as separate writes: on an open connection,
            # Nagle's algorithm would hold the body until the client's delayed acknowledgement (40 ms).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
                return  # the client asked to keep it (HTTP/1.1), and nothing of its request is left unread
            super().send_header(keyword, value)

    return KeepAlive


def _read_body_first(environ: dict[str, Any]) -> None:
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return
    environ["wsgi.input"] = io.BytesIO(body)


def _release_while_waiting_for_messages() -> None:
    from moto.sqs.models import Queue

    wait = Queue.wait_for_messages

    def wait_for_messages(self: Any, timeout: int) -> None:
        with others_admitted():
            wait(self, timeout)

    Queue.wait_for_messages = wait_for_messages


def _receive_reads_only_the_retention_period() -> None:
    """moto checked each received message against every attribute of its queue, computed afresh (counting
    all its messages three times): a receive from a queue of n messages cost 10 * n. The same check."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def _sqs_reads_the_clock_once() -> None:
    """moto's queues ask the time for every message they look at (is it visible? delayed?), each time building
    two datetimes to subtract: the same seconds since the epoch, read directly."""
    import moto.sqs.models as sqs

    to_seconds = sqs.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else to_seconds(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    sqs.unix_time, sqs.unix_time_millis = unix_time, unix_time_millis


def _services_listed_once() -> None:
    """moto finds the service a request is for by listing its own package's folders, for every request (a
    folder read and a stat per service, most of a small request's time): listed once, they do not change."""
    import moto.backends as backends

    services = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: services


def _names_converted_once() -> None:
    """moto turns the same names into attribute names for every request: each operation's handler (finding it
    among the class's members, inspected afresh each time) and, for each message sent, each attribute of its
    queue (a regular expression per name). Both are pure functions of what they are given: each is done once."""
    import moto.core.responses as responses
    import moto.sqs.models as sqs

    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    sqs.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(sqs.camelcase_to_underscores)


def _update_expressions_parsed_once() -> None:
    """moto parses an update expression two or three times per request (the request's checks, then the write);
    the same text always gives the same tree, which is only read or copied before use: parsed once per text."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    make = UpdateExpressionParser.make.__func__
    UpdateExpressionParser.make = classmethod(functools.lru_cache(maxsize=1024)(make))


def _input_paths_parsed_once() -> None:
    """A bus delivering an event to a target applies the target's input paths (by default, eight), and moto built
    a JSONPath parser for each path of each delivery: each path is parsed once (a parsed path is never changed)."""
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)


# --- DynamoDB -----------------------------------------------------------------------------------

class _TablesNotCopied:
    """moto's models module sees this as `copy`: its transaction's copy of a whole table is the table
    itself (so putting it back changes nothing); every other copy is a real one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, *args, **kwargs)


def _undo_only_touched_items() -> None:
    import moto.dynamodb.models as models

    models.copy = _TablesNotCopied()
    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _touched(self, transact_items)
        try:
            transact(self, transact_items)
        except BaseException:
            _put_back(before)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> dict[tuple, Any]:
    """(table, hash key, range key) -> a copy of the item as it is now (None: absent), for every item
    the transaction names; a malformed one is left to moto, which refuses it before writing anything."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    before: dict[tuple, Any] = {}
    for entry in transact_items:
        if len(entry) != 1:
            continue
        (operation, request), = entry.items()
        table = backend.tables.get(request.get("TableName")) if isinstance(request, dict) else None
        if table is None:
            continue
        key = request.get("Item") if operation == "Put" else request.get("Key")
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError):
            continue
        where = (table, hash_key, range_key)
        if where not in before:
            current = table.get_item(hash_key, range_key)
            before[where] = copy.deepcopy(current) if current is not None else None
    return before


def _put_back(before: dict[tuple, Any]) -> None:
    for (table, hash_key, range_key), item in before.items():
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item


def _query_only_what_a_key_can_match() -> None:
    import inspect

    from moto.dynamodb.models.table import Table

    query = Table.query
    parameters = inspect.signature(query)

    def query_what_the_key_names(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = parameters.bind(self, *args, **kwargs).arguments
        hash_key, index_name = asked.get("hash_key"), asked.get("index_name")
        if index_name is None and hash_key is not None:
            candidates = {hash_key: self.items[hash_key]} if hash_key in self.items else {}
        elif index_name is not None and asked.get("hash_key_conditions"):
            candidates = _in_index_partition(self, index_name, asked["hash_key_conditions"])
        else:
            return query(self, *args, **kwargs)
        whole, self.items = self.items, candidates  # one request at a time: no one else sees the swap
        try:
            return query(self, *args, **kwargs)
        finally:
            self.items = whole

    Table.query = query_what_the_key_names


def _in_index_partition(table: Any, index_name: str, hash_conditions: list[tuple[str, Any]]) -> dict:
    """The table's items in the index partition the query names (a sparse index holds only the items that
    carry every key attribute of the index), shaped as `table.items`, for moto to sort and page."""
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return table.items  # moto refuses the unknown index as DynamoDB does
    required = [part["AttributeName"] for part in index.schema]

    def belongs(item: Any) -> bool:
        attrs = item.attrs
        return all(name in attrs for name in required) and all(attrs[name] == value
                                                               for name, value in hash_conditions)

    if not table.range_key_attr:
        return {h: item for h, item in table.items.items() if belongs(item)}
    kept: dict = {}
    for hash_key, partition in table.items.items():
        chosen = {r: item for r, item in partition.items() if belongs(item)}
        if chosen:
            kept[hash_key] = chosen
    return kept
