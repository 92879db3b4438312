"""Totals: the discount spread exactly, tax per line rounded half up, shipping taxed as a line."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.tax.totals import Rates, round_half_up, tax_of, totals

DE = Rates({"standard": Decimal("19"), "reduced": Decimal("7")})
US_CA = Rates.at(("US-CA", "US"), {"US": {"standard": Decimal("0")}, "US-CA": {"standard": Decimal("7.25")}})


def test_halves_round_up():
    assert [round_half_up(n, 2) for n in (0, 1, 2, 3, 5)] == [0, 1, 1, 2, 3]
    assert tax_of(200, Decimal("7.25"), included=False) == 15  # 14.5 -> 15
    assert tax_of(1190, Decimal("19"), included=True) == 190  # 1190 x 19 / 119, exactly
    assert tax_of(999, Decimal("0"), included=True) == 0


def test_the_most_specific_zone_with_a_rate_applies():
    assert US_CA.of("standard") == Decimal("7.25")
    assert US_CA.of("books") == 0  # no zone rates the class: 0 %
    nevada = Rates.at(("US-NV", "US"), {"US": {"standard": Decimal("5")}})
    assert nevada.of("standard") == Decimal("5")  # the region has none: the country's


def test_an_inclusive_basket_carries_its_tax_inside_the_total():
    # 2 x 19.99 (standard) + 5.00 (reduced), 3.00 off, 4.99 shipping (standard), in EUR with 19 % and 7 %
    summed = totals([(3998, "standard"), (500, "reduced")], discount=300, shipping=499, shipping_class="standard",
                    rates=DE, prices_include_tax=True)
    shares = [line.discount for line in summed.lines]
    assert shares == [267, 33]  # 300 x 3998/4498 = 266.66 -> 266 + the remainder's unit; 300 x 500/4498 = 33.3
    assert [line.tax for line in summed.lines] == [round_half_up((3998 - 267) * 19_000, 119_000),
                                                   round_half_up((500 - 33) * 7_000, 107_000)] == [596, 31]
    assert summed.shipping_tax == 80  # 499 x 19 / 119 = 79.67
    assert summed.tax == 596 + 31 + 80
    assert summed.total == 3998 + 500 - 300 + 499  # the tax is in the prices
    assert summed.tax_lines == (("reduced", Decimal("7"), 31), ("standard", Decimal("19"), 676))


def test_an_exclusive_basket_adds_its_tax():
    summed = totals([(1999, "standard"), (1000, "standard")], discount=0, shipping=799, shipping_class="standard",
                    rates=US_CA, prices_include_tax=False)
    assert [line.tax for line in summed.lines] == [145, 73]  # 144.93 -> 145, 72.5 -> 73
    assert summed.shipping_tax == 58  # 57.93
    assert summed.total == 1999 + 1000 + 799 + 145 + 73 + 58


def test_a_discount_above_the_subtotal_is_refused():
    with pytest.raises(ValueError):
        totals([(100, "standard")], discount=101, shipping=0, shipping_class="standard", rates=DE,
               prices_include_tax=True)


rates = st.decimals(min_value=0, max_value=100, places=3)
lines = st.lists(st.tuples(st.integers(0, 10**11), st.sampled_from(["standard", "reduced", "zero"])), min_size=1,
                 max_size=50)


@settings(max_examples=150, deadline=None)
@given(lines=lines, discount_part=st.floats(0, 1), shipping=st.integers(0, 10**9), included=st.booleans(),
       standard=rates, reduced=rates, shipping_class=st.sampled_from(["standard", "reduced", "zero"]))
def test_tax_plus_net_is_gross_on_every_line_and_the_total(lines, discount_part, shipping, included, standard,
                                                         reduced, shipping_class):
    subtotal = sum(amount for amount, _ in lines)
    discount = int(subtotal * discount_part)
    summed = totals(lines, discount=discount, shipping=shipping, shipping_class=shipping_class,
                    rates=Rates({"standard": standard, "reduced": reduced}), prices_include_tax=included)
    assert sum(line.discount for line in summed.lines) == discount
    gross_total = net_total = 0
    for (amount, tax_class), line in zip(lines, summed.lines):
        assert 0 <= line.discount <= amount
        charged = amount - line.discount
        net = charged - line.tax if included else charged
        gross = charged if included else charged + line.tax
        assert line.tax >= 0 and net >= 0 and net + line.tax == gross
        gross_total, net_total = gross_total + gross, net_total + net
    shipping_gross = shipping if included else shipping + summed.shipping_tax
    shipping_net = shipping - summed.shipping_tax if included else shipping
    assert shipping_net >= 0 and shipping_net + summed.shipping_tax == shipping_gross
    assert summed.total == gross_total + shipping_gross
    assert net_total + shipping_net + summed.tax == summed.total
    assert summed.tax == sum(line.tax for line in summed.lines) + summed.shipping_tax
    assert sum(amount for _, _, amount in summed.tax_lines) == summed.tax  # 0 % classes carry no tax
