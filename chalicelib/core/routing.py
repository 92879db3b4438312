"""The API's route table, filled one domain at a time: a cold start imports only the domain its first request needs.

Chalice keeps its routes in `app.routes` (path -> method -> entry) and looks a request's resource path
up there. Each domain's routes module declares its routes on a blueprint, and importing it brings its
models with it (pydantic builds each class at import). `DomainRoutes` replaces the table: a lookup of
a path imports the module that owns it (from `route-index.json`, written by `make openapi` beside
`openapi.json`) and registers its blueprint; walking the table (packaging, the OpenAPI document, the
local server) registers every domain first. A path the index does not know registers every domain,
so a stale index costs time, never a route.

A route says who may call it once, in its `@doc`; as its domain is registered, each route entry is
given the gateway authorizer that access needs (`authorizer_of`, core/http.py's `gateway_authorizer`),
on both paths that fill the table: a request's lookup and the walk that packages the API.
"""
from __future__ import annotations

import importlib
import json
import pathlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

INDEX = pathlib.Path(__file__).resolve().parent.parent / "route-index.json"


def read_index(path: pathlib.Path = INDEX) -> dict[str, list[str]]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:  # no index yet: every lookup registers every domain
        return {}


def index_of(app: Any) -> dict[str, list[str]]:
    """Which routes module declares each path, from a table with every domain registered."""
    owners: dict[str, set[str]] = {}
    for path, methods in app.routes.items():
        for entry in methods.values():
            owners.setdefault(path, set()).add(entry.view_function.__module__)
    return {path: sorted(modules) for path, modules in sorted(owners.items())}


class DomainRoutes(dict):
    """`app.routes` with each domain's blueprint registered when one of its paths is first looked up."""

    def __init__(self, app: Any, modules: Sequence[str], index: Mapping[str, Sequence[str]],
                 import_module: Callable[[str], Any] = importlib.import_module,
                 authorizer_of: Callable[[Callable], Any] | None = None):
        super().__init__(app.routes)  # routes registered on the app itself before
        self._app = app
        self._import = import_module
        self._pending = list(modules)
        self._index = index
        self._authorizer_of = authorizer_of
        self._lock = threading.RLock()  # the local server answers on threads; Lambda on one
        self._registering = 0
        self._authorize(self._entries())

    def load(self, modules: Iterable[str] | None = None) -> None:
        """Register these domains' blueprints (all that are not yet registered when None)."""
        with self._lock:
            for module in list(self._pending if modules is None else modules):
                if module not in self._pending:
                    continue
                blueprint = self._import(module).routes
                self._pending.remove(module)
                self._registering += 1
                try:
                    before = {id(entry) for entry in self._entries()}
                    self._app.register_blueprint(blueprint)
                    self._authorize(entry for entry in self._entries() if id(entry) not in before)
                finally:
                    self._registering -= 1

    def _entries(self) -> list[Any]:
        return [entry for methods in dict.values(self) for entry in methods.values()]

    def _authorize(self, entries: Iterable[Any]) -> None:
        """Give each newly registered entry the authorizer its declared access needs. An authorizer given
        to `route()` as well would be a second declaration, one that could disagree: it is refused."""
        if self._authorizer_of is None:
            return
        for entry in entries:
            if entry.authorizer is not None:
                raise ValueError(f"{entry.method} {entry.uri_pattern} names an authorizer; its @doc access "
                                 "decides the gateway's")
            entry.authorizer = self._authorizer_of(entry.view_function)

    @property
    def loaded(self) -> bool:
        return not self._pending

    def _find(self, path: str) -> bool:
        if not dict.__contains__(self, path) and self._pending and not self._registering:
            self.load(self._index.get(path))
            if not dict.__contains__(self, path):
                self.load()  # not in the index (a route added since it was written)
        return dict.__contains__(self, path)

    # Chalice registers with `routes[path][method] = entry` on what it made a defaultdict(dict).
    def __missing__(self, path: str) -> dict:
        if self._find(path):
            return dict.__getitem__(self, path)
        return self.setdefault(path, {})

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._find(path)

    def get(self, path: str, default: Any = None) -> Any:
        return dict.__getitem__(self, path) if self._find(path) else default

    # Walking the whole table needs every domain.
    def __iter__(self) -> Iterator[str]:
        self.load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.load()
        return dict.__len__(self)

    def keys(self):  # type: ignore[override]
        self.load()
        return dict.keys(self)

    def values(self):  # type: ignore[override]
        self.load()
        return dict.values(self)

    def items(self):  # type: ignore[override]
        self.load()
        return dict.items(self)


def serve_domains(app: Any, modules: Sequence[str], index: Mapping[str, Sequence[str]] | None = None,
                  import_module: Callable[[str], Any] = importlib.import_module,
                  authorizer_of: Callable[[Callable], Any] | None = None) -> DomainRoutes:
    """Give `app` a route table that registers each of these routes modules (each with a `routes`
    blueprint) when a request first needs it, each route behind the gateway authorizer its `@doc`
    access needs (`authorizer_of(view)`: core/http.py's `gateway_authorizer` unless given)."""
    if authorizer_of is None:
        from chalicelib.core.http import gateway_authorizer as authorizer_of  # the app imported it already
    table = DomainRoutes(app, modules, read_index() if index is None else index, import_module, authorizer_of)
    app.routes = table
    return table
