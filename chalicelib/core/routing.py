"""Each domain's routes: a blueprint whose every route is behind the gateway authorizer its declared access
needs, registered on the app with `app.register_blueprint`, all at once or, in Lambda, as requests need them.

Registering a domain imports its routes module and, with it, its models: a pydantic class costs a fraction
of a millisecond to define even with its validators deferred, and the ten domains' 70 models add about a
tenth to a cold first request (docs/decisions.md). So where a process answers requests as they come and
nothing walks the route table, a Lambda execution environment, the HTTP middleware registers a domain
when a request first needs one of the paths it serves; everywhere else (the local server, the tests,
packaging, the tools, and an initialisation that ends in a SnapStart snapshot) every domain is registered
at once. Only Chalice's public API is used: `Blueprint.route`, `Chalice.register_blueprint`,
`Chalice.register_middleware`, and reading `app.routes`.
"""
from __future__ import annotations

import importlib
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from chalice import Blueprint

from chalicelib.core.http import gateway_authorizer


class Routes(Blueprint):
    """A domain's blueprint. A route says who may call it once, in its `@doc`; API Gateway's authorizer follows
    from that (`gateway_authorizer`) and is given to `route()` here. A route naming an authorizer itself is
    refused: said twice, the two could disagree."""

    def route(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        if "authorizer" in kwargs:
            methods = "/".join(kwargs.get("methods", ["GET"]))
            raise ValueError(f"{methods} {path} names an authorizer; its @doc access decides the gateway's")
        register = super().route

        def declare(view: Callable) -> Callable:
            return register(path, authorizer=gateway_authorizer(view), **kwargs)(view)
        return declare


def in_lambda() -> bool:
    """A Lambda execution environment (its reserved variable), answering one invocation at a time."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _answering_as_needed() -> bool:
    from chalicelib.core.snapstart import snapshotting

    # A snapshot holds every domain, so no environment restored from it imports one on a request.
    return in_lambda() and not snapshotting()


_of_app: weakref.WeakKeyDictionary[Any, Domains] = weakref.WeakKeyDictionary()


class Domains:
    """The API's domains: each a routes module (with a `routes` blueprint) and the paths it serves, by prefix
    (whole segments; the longest prefix wins, so `/basket/checkout` can belong to another domain than `/basket`).

    `lazy` (in Lambda, unless snapshotting) leaves each domain unregistered until a request needs one of its
    paths; the middleware that registers it is added to the app here, so create this after the middleware that
    should see the registration (tracing) and before the middleware that reads the route (access)."""

    def __init__(self, app: Any, lazy: bool | None = None,
                 import_module: Callable[[str], Any] = importlib.import_module) -> None:
        self._app = app
        self._import = import_module
        self.lazy = _answering_as_needed() if lazy is None else lazy
        self._owners: dict[tuple[str, ...], str] = {}  # a prefix's segments -> the module serving it
        self._modules: list[str] = []
        self._registered: set[str] = set()
        self._lock = threading.Lock()
        _of_app[app] = self
        if self.lazy:
            app.register_middleware(self._register_needed, "http")

    def add(self, module: str, *prefixes: str) -> None:
        """`module`'s routes serve the paths under these prefixes."""
        for prefix in prefixes:
            self._owners[_segments(prefix)] = module
        self._modules.append(module)
        if not self.lazy:
            self._register([module])

    def owner(self, path: str) -> str | None:
        """The module whose prefix is the longest one `path` starts with."""
        segments = _segments(path)
        for end in range(len(segments), 0, -1):
            module = self._owners.get(segments[:end])
            if module is not None:
                return module
        return None

    @property
    def registered(self) -> bool:
        """Every domain's routes are in `app.routes`."""
        return len(self._registered) == len(self._modules)

    def register_all(self) -> None:
        self._register(self._modules)

    def _register(self, modules: Iterable[str]) -> None:
        with self._lock:  # requests arriving together register a domain once
            for module in modules:
                if module not in self._registered:
                    self._app.register_blueprint(self._import(module).routes)
                    self._registered.add(module)

    def _register_needed(self, event: Any, get_response: Callable[[Any], Any]) -> Any:
        """HTTP middleware: the domain serving the request's path, registered before Chalice looks the path up."""
        if not self.registered:
            path = (event.context or {}).get("resourcePath") or ""
            if not self._app.routes.get(path):
                owner = self.owner(path)
                self._register([owner] if owner else [])
                if not self._app.routes.get(path):  # a path no prefix names: it costs time, never a route
                    self.register_all()
        return get_response(event)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.split("/") if segment)


def every_route(app: Any) -> dict[str, dict[str, Any]]:
    """`app.routes` with every domain registered: what describes the whole API (the OpenAPI document) reads it."""
    domains = _of_app.get(app)
    if domains is not None:
        domains.register_all()
    return app.routes
