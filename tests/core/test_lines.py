"""The line type every domain passes: units of one thing sold, summed by what they are of."""
from __future__ import annotations

from hypothesis import given, strategies as st

from chalicelib.core.lines import Line, Lines

_lines = st.lists(st.builds(Line, product_id=st.sampled_from(["a", "b", "c"]), quantity=st.integers(1, 9)))


def test_lines_of_the_same_thing_add_up_in_the_order_they_first_came():
    lines = Lines([Line("mug", 2), Line("pot", 1), Line("mug", 3)])
    assert list(lines) == [Line("mug", 5), Line("pot", 1)]
    assert lines.units_of("mug") == 5 and lines.units_of("cup") == 0 and lines.units == 6
    assert [line.key for line in Lines([Line("pot", 1), Line("mug", 1)]).in_key_order()] == ["mug", "pot"]


def test_a_line_of_no_units_is_no_line():
    assert not Lines([Line("mug", 0)]) and Lines([Line("mug", 2)]).minus(Lines([Line("mug", 2)])) == Lines()
    assert Lines([Line("mug", 2)]).setting(Line("mug", 0)) == Lines()


def test_setting_a_line_keeps_its_place_and_a_new_one_goes_last():
    lines = Lines([Line("mug", 1), Line("pot", 1)])
    assert list(lines.setting(Line("mug", 4))) == [Line("mug", 4), Line("pot", 1)]
    assert list(lines.setting(Line("cup", 2)))[-1] == Line("cup", 2)
    assert list(lines.without("mug")) == [Line("pot", 1)]


def test_the_stored_form_is_units_by_product_and_variant_and_reads_the_form_from_before():
    stored = {"pot/pot.s": 2, "mug/mug": 1}
    lines = Lines.from_stored({"pot/pot.s": 2, "mug/mug": 1.0})  # numbers come back as Decimal or float
    assert lines.stored() == stored and list(lines.stored()) == ["pot/pot.s", "mug/mug"]
    assert list(lines) == [Line("pot", 2, "pot.s"), Line("mug", 1, "mug")]
    before = Lines.from_stored({"pot": 2})  # written before variants: the product's default variant
    assert list(before) == [Line("pot", 2)] and before.stored() == {"pot/pot": 2}
    assert Lines.from_stored(None) == Lines() and Lines().stored() == {}


@given(_lines, _lines)
def test_merging_then_taking_away_gives_back_what_was_there(first, second):
    mine, theirs = Lines(first), Lines(second)
    assert (mine + theirs).minus(theirs) == mine
    assert (mine + theirs).units == mine.units + theirs.units
    assert all((mine + theirs).units_of(key) == mine.units_of(key) + theirs.units_of(key) for key in "abc")
