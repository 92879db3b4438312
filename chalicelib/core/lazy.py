"""Names imported on first use, so a cold start loads only what its first request touches."""
from __future__ import annotations

import importlib
from typing import Any


class Lazy:
    """Stands for `module:attribute` until used: calling it calls the real thing; `.target` is it."""

    __slots__ = ("path", "_target")

    def __init__(self, path: str):
        self.path = path
        self._target: Any = None

    @property
    def target(self) -> Any:
        if self._target is None:
            module, _, name = self.path.partition(":")
            self._target = getattr(importlib.import_module(module), name)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Lazy({self.path!r})"


def lazy(module: str, *names: str) -> Any:
    """`a, b = lazy("pkg.mod", "a", "b")`: stand-ins for `from pkg.mod import a, b`."""
    found = tuple(Lazy(f"{module}:{name}") for name in names)
    return found[0] if len(found) == 1 else found


def resolve(value: Any) -> Any:
    return value.target if isinstance(value, Lazy) else value
