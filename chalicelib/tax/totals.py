"""What a basket or an order totals: its lines after the discount, shipping, and tax by destination.

Pure: given the lines, the discount, the shipping amount and the rates of the destination, the same totals
every time (the basket shows them, the checkout snapshots them, refunds and returns count from them).

- The discount is spread over the lines in proportion to their totals, with the remainders given one unit
  each to the largest (`allocate`), so the lines' shares sum to it exactly.
- Tax is reckoned per line on what the line costs after its share, rounded half up in minor units:
  included in the price, `tax = line × r / (100 + r)`; added to it, `tax = line × r / 100`.
- Shipping is one more line, at its method's tax class.
- `total = subtotal − discount + shipping (+ tax when prices exclude it)`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from chalicelib.core.models import allocate

_MILLI = 1000  # rates are exact to three decimals: computed in thousandths of a percent, in integers


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def tax_of(amount: int, rate: Decimal, *, included: bool) -> int:
    """The tax in `amount` minor units (included) or on them (added), at `rate` percent, rounded half up."""
    milli = int(rate * _MILLI)
    if not milli or not amount:
        return 0
    return round_half_up(amount * milli, 100 * _MILLI + milli if included else 100 * _MILLI)


@dataclass(frozen=True)
class Rates:
    """The rate of each tax class at one destination (a class without one: 0 %)."""

    by_class: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def at(cls, zones: Sequence[str], rates_of_zone: Mapping[str, Mapping[str, Decimal]]) -> Rates:
        """The rates at a destination in `zones` (most specific first: region, then country): for each class,
        the most specific zone's rate."""
        merged: dict[str, Decimal] = {}
        for zone in reversed(zones):
            merged.update(rates_of_zone.get(zone, {}))
        return cls(merged)

    def of(self, tax_class: str) -> Decimal:
        return self.by_class.get(tax_class, Decimal(0))


@dataclass(frozen=True)
class Charged:
    """One line's share of the totals: what its discount share is and the tax it carries."""

    discount: int
    tax: int


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    prices_include_tax: bool
    lines: tuple[Charged, ...]  # in the order the lines were given
    shipping_tax: int
    tax_lines: tuple[tuple[str, Decimal, int], ...]  # (tax class, rate, amount), rates above 0, by class


def totals(lines: Sequence[tuple[int, str]], *, discount: int, shipping: int, shipping_class: str,
           rates: Rates, prices_include_tax: bool) -> Totals:
    """The totals of `lines` ((line total, tax class) each) less `discount`, with `shipping`."""
    subtotal = sum(amount for amount, _ in lines)
    if not 0 <= discount <= subtotal:
        raise ValueError("a discount is at most the subtotal")
    shares = allocate(discount, [amount for amount, _ in lines])
    charged = tuple(Charged(share, tax_of(amount - share, rates.of(tax_class), included=prices_include_tax))
                    for (amount, tax_class), share in zip(lines, shares))
    shipping_tax = tax_of(shipping, rates.of(shipping_class), included=prices_include_tax)
    by_class: dict[tuple[str, Decimal], int] = {}
    for (_, tax_class), line in zip(lines, charged):
        by_class[tax_class, rates.of(tax_class)] = by_class.get((tax_class, rates.of(tax_class)), 0) + line.tax
    if shipping:
        by_class[shipping_class, rates.of(shipping_class)] = \
            by_class.get((shipping_class, rates.of(shipping_class)), 0) + shipping_tax
    tax = sum(line.tax for line in charged) + shipping_tax
    total = subtotal - discount + shipping + (0 if prices_include_tax else tax)
    return Totals(subtotal=subtotal, discount=discount, shipping=shipping, tax=tax, total=total,
                  prices_include_tax=prices_include_tax, lines=charged, shipping_tax=shipping_tax,
                  tax_lines=tuple((tax_class, rate, amount) for (tax_class, rate), amount in sorted(by_class.items())
                                  if rate > 0))
