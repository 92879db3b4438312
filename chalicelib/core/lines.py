"""What is bought, reserved, restocked, refunded and returned: units of one thing the shop sells.

Every domain passes `Line` and `Lines` instead of its own pair type or a `{variant_id: quantity}` map, so
that what names the thing sold (a product's variant) is defined here once, with its stored and wire forms.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class HasLine(Protocol):
    """Anything that names a product, its variant and a quantity (a wire model's line, an order line)."""

    product_id: str
    quantity: int
    variant_id: str | None


@dataclass(frozen=True)
class Line:
    """`quantity` units of one variant of a product. A line without a variant (written before products had
    variants) is of the product's default variant, whose id is the product's."""

    product_id: str
    quantity: int
    variant_id: str | None = None

    @property
    def key(self) -> str:
        """What tells one line's thing from another's (its variant): lines with the same key add up."""
        return self.variant_id or self.product_id

    @classmethod
    def of(cls, line: HasLine) -> Line:
        return cls(product_id=line.product_id, quantity=line.quantity, variant_id=getattr(line, "variant_id", None))

    def named(self) -> dict[str, Any]:
        """The fields naming what the line is of, as the API's problems (and the events) name it."""
        return {"productId": self.product_id, "variantId": self.key}

    def with_quantity(self, quantity: int) -> Line:
        return Line(product_id=self.product_id, quantity=quantity, variant_id=self.variant_id)


class Lines:
    """Units by thing sold: one line per key (lines of the same key add up), in the order keys first came.
    Immutable; a line of zero units or fewer is dropped."""

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterable[Line] = ()):
        summed: dict[str, Line] = {}
        for line in lines:
            held = summed.get(line.key)
            summed[line.key] = line if held is None else held.with_quantity(held.quantity + line.quantity)
        self._lines = {key: line for key, line in summed.items() if line.quantity > 0}

    @classmethod
    def of(cls, items: Iterable[HasLine]) -> Lines:
        """Lines from anything naming a variant and a quantity (wire lines, order lines), summed by variant."""
        return cls(Line.of(item) for item in items)

    # --- the stored form: {"<productId>/<variantId>": quantity}; a key without "/" (written before variants) is
    # the product's default variant ------------------------------------------------------

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> Lines:
        def line(key: str, quantity: Any) -> Line:
            product_id, _, variant_id = key.partition("/")
            return Line(product_id=product_id, quantity=int(quantity), variant_id=variant_id or None)

        return cls(line(key, quantity) for key, quantity in (stored or {}).items())

    def stored(self) -> dict[str, int]:
        return {f"{line.product_id}/{line.key}": line.quantity for line in self._lines.values()}

    # --- reading ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Line]:
        return iter(self._lines.values())

    def in_key_order(self) -> list[Line]:
        """The lines sorted by key: the order transaction items are written in."""
        return [self._lines[key] for key in sorted(self._lines)]

    def __len__(self) -> int:
        return len(self._lines)

    def __bool__(self) -> bool:
        return bool(self._lines)

    def __contains__(self, key: object) -> bool:
        return key in self._lines

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lines) and self._lines == other._lines

    def __hash__(self) -> int:
        return hash(frozenset(self._lines.items()))

    def __repr__(self) -> str:
        return f"Lines({list(self._lines.values())!r})"

    def keys(self) -> list[str]:
        return list(self._lines)

    def product_ids(self) -> list[str]:
        """The products these lines are of, each once, in line order."""
        return list(dict.fromkeys(line.product_id for line in self._lines.values()))

    def units_of(self, key: str) -> int:
        line = self._lines.get(key)
        return line.quantity if line else 0

    def line(self, key: str) -> Line | None:
        return self._lines.get(key)

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self._lines.values())

    # --- making new ones --------------------------------------------------------------

    def __add__(self, other: Lines) -> Lines:
        """Both, merged: units of the same key add up."""
        return Lines([*self, *other])

    def minus(self, other: Lines) -> Lines:
        """These less `other`'s units, key by key; a line left with none is dropped."""
        return Lines(line.with_quantity(line.quantity - other.units_of(line.key)) for line in self)

    def setting(self, line: Line) -> Lines:
        """These with `line` in place of its key's (added last if new; dropped if of no units)."""
        if line.key in self._lines:
            return Lines(line if held.key == line.key else held for held in self)
        return Lines([*self, line])

    def without(self, key: str) -> Lines:
        return Lines(line for line in self if line.key != key)
