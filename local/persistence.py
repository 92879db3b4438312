"""The emulator's state on disk, so a restart of the local stack keeps what was there.

Three files in one folder (`make run` uses `.local-stack/state/emulator/`, which git ignores):

- `dynamodb-items.jsonl`: every DynamoDB item, one per line, as of the last start;
- `dynamodb-journal.jsonl`: each DynamoDB item a request changed since, as it is after the request
  (or gone), appended before the request is answered; flushed to disk every second;
- `services.pickle`: every other service's state (queues and their messages, the bus and its rules,
  users and their keys, roles, buckets and objects, secrets) and the tables' definitions, written
  each second something changed (and before a table made or changed is answered), to a temporary
  file renamed over the last (so a crash never leaves half a file).

So a crash of the emulator loses no acknowledged DynamoDB write, and at most the last second of
the other services' changes (a machine crash: also at most the last second of DynamoDB writes).
At start the items are read back, then the journal over them; the items file is then rewritten
whole (atomically) and the journal emptied, so the journal never holds more than one run.
"""
from __future__ import annotations

import collections
import io
import json
import os
import pathlib
import pickle
import threading
from typing import Any

from local import consistency

ITEMS, JOURNAL, SERVICES = "dynamodb-items.jsonl", "dynamodb-journal.jsonl", "services.pickle"
SYNC_SECONDS = 1.0
_SAVE_BEFORE_ANSWER = "local.persistence.save"
# Requests that change no state but DynamoDB items (those are journalled): all others mark the services dirty.
ITEM_REQUESTS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                           "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "DescribeTable",
                           "ListTables", "DescribeTimeToLive", "DescribeContinuousBackups"})


class Persistence:
    """`Persistence(folder).start()` in the emulator's process, before it serves; `.stop()` writes it all."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = pathlib.Path(directory)
        self._touched: set[tuple[Any, Any, Any]] = set()
        self._services_changed = False
        self._journal: io.TextIOWrapper | None = None
        self._written = self._synced = 0  # journal writes made, and how many of them are on disk
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._writing = threading.Lock()  # one writer of the services' file at a time

    # --- start and stop -------------------------------------------------------------------------

    def start(self) -> str:
        """Restore what the folder holds, then keep it up to date. Returns what was restored, in words."""
        self.directory.mkdir(parents=True, exist_ok=True)
        restored = self._restore()
        _track_item_writes(self._touched)
        consistency.after_each_request(self._after_request, before_answer=self._before_answer)
        with consistency.one_request():
            self._compact()
        self.save()
        self._thread = threading.Thread(target=self._keep_writing, name="persistence", daemon=True)
        self._thread.start()
        return restored

    def save(self, *, if_changed: bool = False) -> None:
        """The services' state as it is now (taken alone, written after), and the journal synced."""
        with self._writing:
            with consistency.one_request():
                services = None
                if self._services_changed or not if_changed:
                    self._services_changed = False
                    services = _dump_services()
            if services is not None:
                _atomic_write(self.directory / SERVICES, services)
            self._sync_journal()

    def stop(self) -> None:
        """Everything written and synced (Ctrl-C, SIGTERM, the parent gone)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        self.save()

    # --- while serving --------------------------------------------------------------------------

    def _after_request(self, environ: dict[str, Any]) -> None:
        """Inside the request's lock, before it is answered: its item changes go to the journal."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not (target.startswith("DynamoDB_") and target.split(".", 1)[-1] in ITEM_REQUESTS):
            self._services_changed = True
            if target.startswith("DynamoDB_"):  # a table made or changed: on disk before it is answered
                environ[_SAVE_BEFORE_ANSWER] = True
        if not self._touched:
            return
        lines = [_line(table, hash_key, range_key, _current(table, hash_key, range_key))
                 for table, hash_key, range_key in self._touched]
        self._touched.clear()
        self._journal.write("".join(lines))
        self._journal.flush()  # in the operating system's hands before the answer: a crash of this process keeps it
        self._written += 1

    def _before_answer(self, environ: dict[str, Any]) -> None:
        """A table's definition is saved before the request that made or changed it is answered, so the
        journalled writes to it that follow are never restored without it."""
        if environ.get(_SAVE_BEFORE_ANSWER):
            self.save(if_changed=True)

    def _keep_writing(self) -> None:
        """Each second: the services' state if a request changed it, the journal synced."""
        while not self._stopping.wait(SYNC_SECONDS):
            try:
                self.save(if_changed=True)
            except Exception as error:  # noqa: BLE001 (a full disk must not stop the emulator; said each time)
                print(f"[state] could not write the emulator's state: {error!r}", flush=True)

    def _sync_journal(self) -> None:
        written = self._written
        if written != self._synced and self._journal is not None:
            os.fsync(self._journal.fileno())
            self._synced = written

    # --- restore and compact --------------------------------------------------------------------

    def _restore(self) -> str:
        services, items, journal = (self.directory / name for name in (SERVICES, ITEMS, JOURNAL))
        if not services.exists():
            return ""
        _load_services(services.read_bytes())
        counts = collections.Counter()
        for path in (items, journal):
            if path.exists():
                with open(path, encoding="utf-8") as lines:
                    for line in lines:
                        counts[_apply(line)] += 1
        tables = _tables()
        held = sum(len(table) for table in tables)
        said = f"{held} DynamoDB items in {len(tables)} table(s), and every other service's state"
        if counts["unknown table"]:
            said += f" ({counts['unknown table']} changes to tables no longer there left out)"
        return said

    def _compact(self) -> None:
        """The items file rewritten from memory, then the journal emptied (a crash in between replays a
        journal whose changes the items file already holds: the same state)."""
        with io.StringIO() as out:
            for table in _tables():
                for item in table.all_items():
                    out.write(_line(table, item.hash_key, item.range_key, item))
            _atomic_write(self.directory / ITEMS, out.getvalue().encode("utf-8"))
        if self._journal is not None:
            self._journal.close()
        self._journal = open(self.directory / JOURNAL, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
        os.fsync(self._journal.fileno())


# --- DynamoDB items: which changed, and as lines --------------------------------------------------

def _track_item_writes(touched: set) -> None:
    """Every item a request writes is noted in `touched` (the table, its keys): put, update, delete, and a
    transaction's or a batch's writes, which go through the same three."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_journalled", False):
        return
    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put(self, *args, **kwargs)
        touched.add((self, item.hash_key, item.range_key))
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:
            touched.add((self, hash_key, range_key))

    def update_item(self: Any, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        try:
            return update(self, table_name, key, *args, **kwargs)
        finally:  # even refused: an update may have changed the item in place before failing
            table = self.tables.get(table_name)
            if table is not None:
                try:
                    touched.add((table, *self.get_keys_value(table, key)))
                except Exception:  # noqa: BLE001 (a malformed key: moto refused it, nothing changed)
                    pass

    Table.put_item, Table.delete_item, DynamoDBBackend.update_item = put_item, delete_item, update_item
    Table._journalled = True


def _current(table: Any, hash_key: Any, range_key: Any) -> Any:
    try:
        return table.get_item(hash_key, range_key)
    except Exception:  # noqa: BLE001 (a key the table cannot hold: nothing there)
        return None


def _plain(value: Any) -> dict:
    """A DynamoType as DynamoDB's JSON (what moto was given, and builds a DynamoType from)."""
    if value.type == "M":
        return {"M": {name: _plain(member) for name, member in value.value.items()}}
    if value.type == "L":
        return {"L": [_plain(member) for member in value.value]}
    if isinstance(value.value, bytes):
        import base64

        return {value.type: base64.b64encode(value.value).decode("ascii")}
    return {value.type: value.value}


def _line(table: Any, hash_key: Any, range_key: Any, item: Any) -> str:
    attrs = {name: _plain(value) for name, value in item.attrs.items()} if item is not None else None
    return json.dumps([table.account_id, table.region_name, table.name, _plain(hash_key),
                       _plain(range_key) if range_key is not None else None, attrs], separators=(",", ":")) + "\n"


def _apply(line: str) -> str:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    try:
        account, region, name, hash_plain, range_plain, attrs = json.loads(line)
    except ValueError:
        return "torn line"  # the last line of a journal cut short by a crash
    table = _backend("dynamodb", account, region).tables.get(name)
    if table is None:
        return "unknown table"
    hash_key = DynamoType(hash_plain)
    range_key = DynamoType(range_plain) if range_plain is not None else None
    if attrs is None:
        if range_key is None:
            table.items.pop(hash_key, None)
        else:
            table.items.get(hash_key, {}).pop(range_key, None)
        return "deleted"
    item = Item.__new__(Item)
    item.hash_key, item.range_key = hash_key, range_key
    item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)  # checked for size when written: not again
    for attribute, value in attrs.items():
        dict.__setitem__(item.attrs, attribute, DynamoType(value))
    if range_key is None:
        table.items[hash_key] = item
    else:
        table.items[hash_key][range_key] = item
    return "written"


def _tables() -> list[Any]:
    from moto.dynamodb.models import dynamodb_backends

    return [table for account in dynamodb_backends.values() for backend in account.values()
            for table in backend.tables.values()]


# --- every other service: pickled, the tables' items left out --------------------------------------

class _Pickler(pickle.Pickler):
    """Backends as they are, but the tables' items (journalled instead), and what pickle cannot take as is:
    a condition or lock (a new one), a signing key (as its JWK or PEM)."""

    def __init__(self, out: io.BytesIO, items: set[int]):
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self._items = items

    def persistent_id(self, obj: Any) -> str | None:
        return "dynamodb-items" if id(obj) in self._items else None

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is threading.Condition:
            return threading.Condition, ()
        if kind in _LOCKS:
            return _LOCKS[kind], ()
        return _key_reducer(obj)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: str) -> Any:
        if pid == "dynamodb-items":
            return collections.defaultdict(dict)
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


def _key_reducer(obj: Any) -> Any:
    try:
        from joserfc.jwk import RSAKey, ECKey, OctKey, OKPKey

        if isinstance(obj, (RSAKey, ECKey, OctKey, OKPKey)):
            return _import_jwk, (type(obj), obj.as_dict(private=obj.is_private))
    except ImportError:
        pass
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return _load_private_pem, (obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()),)
    if isinstance(obj, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return _load_public_pem, (obj.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo),)
    return NotImplemented


def _import_jwk(kind: type, data: dict) -> Any:
    return kind.import_key(data)


def _load_private_pem(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


def _load_public_pem(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(pem)


def _dump_services() -> bytes:
    from moto.core.base_backend import BackendDict

    state = {backends.service_name: {account: dict(regions) for account, regions in backends.items()}
             for backends in BackendDict._instances}
    with io.BytesIO() as out:
        _Pickler(out, {id(table.items) for table in _tables()}).dump(state)
        return out.getvalue()


def _load_services(data: bytes) -> None:
    state = _Unpickler(io.BytesIO(data)).load()
    for service, accounts in state.items():
        for account, regions in accounts.items():
            for region, backend in regions.items():
                dict.__setitem__(_backends(service)[account], region, backend)


def _backends(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)


def _backend(service: str, account: str, region: str) -> Any:
    return _backends(service)[account][region]


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    """The whole file or the previous one, never half of either: a temporary file, synced, renamed over."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
