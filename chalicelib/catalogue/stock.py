"""A variant's stock over several stock items (`stockShards`): which items a sale takes from, where units given
back land, and how the sweep evens them out. Pure decisions on the stock each item held when read; the
repository writes them with conditions, so a decision on stale figures is refused, never applied wrongly.

A variant has `items` stock items (shard 0 is its sale record; 1.. are `STOCK#<variant>#<nn>`), of which the
first `active` take sales and restocks. Lowering `stockShards` retires the items above it without deleting them:
they are still read and summed (a restock that chose one before the change still counts) and still sold from,
and the sweep moves what they hold onto the active ones. Raising it adds items. Neither changes the total.
"""
from __future__ import annotations

import random
from collections.abc import Mapping

MAX_STOCK_SHARDS = 50

# {shard: units} to take from (or give to) each stock item.
Plan = dict[int, int]


def take(held: Mapping[int, int], quantity: int, rng: random.Random | None = None) -> Plan | None:
    """Where a sale of `quantity` units takes them, from the stock each item held (`held`, by shard): one item
    chosen at random among those holding enough, so concurrent buyers spread over the items; when none does
    alone, the fewest items that do together (the fullest first, ties in random order). None when all of them
    together hold less: the variant has not got that many."""
    rng = rng or random
    enough = [shard for shard, units in held.items() if units >= quantity]
    if enough:
        return {rng.choice(enough): quantity}
    holding = [shard for shard, units in held.items() if units > 0]
    rng.shuffle(holding)
    holding.sort(key=lambda shard: held[shard], reverse=True)  # stable: equal ones stay shuffled
    plan: Plan = {}
    wanted = quantity
    for shard in holding:
        if wanted == 0:
            break
        plan[shard] = min(held[shard], wanted)
        wanted -= plan[shard]
    return plan if wanted == 0 else None


def landing(active: int, rng: random.Random | None = None) -> int:
    """The stock item units given back (a cancellation, an expiry, a return, staff's restock) land on: any
    active one, at random, so that no one item takes every restock of a busy sale."""
    return (rng or random).randrange(max(1, active))


def even(held: Mapping[int, int], active: int) -> dict[int, int]:
    """The stock each item should hold: the total spread evenly over the `active` items (the first ones get the
    remainder), nothing on a retired one. Sums to the total held."""
    total = sum(held.values())
    share, extra = divmod(total, active)
    return {shard: (share + (1 if shard < extra else 0)) if shard < active else 0
            for shard in sorted(set(held) | set(range(active)))}


def unbalanced(held: Mapping[int, int], active: int) -> bool:
    """Worth evening out: a retired item holds stock, or an active one is empty while another holds more than
    one sale's worth, or the active items differ by more than half the fair share (and by more than one)."""
    if any(units > 0 for shard, units in held.items() if shard >= active):
        return True
    on_active = [held.get(shard, 0) for shard in range(active)]
    if active <= 1 or sum(on_active) == 0:
        return False
    fair = sum(on_active) / active
    spread = max(on_active) - min(on_active)
    return (min(on_active) == 0 and max(on_active) > 1) or (spread > 1 and spread > fair / 2)


def moves(held: Mapping[int, int], active: int) -> tuple[Plan, Plan]:
    """(what to take from each item that holds too much, what to give each that holds too little) to reach
    `even`: the two sum to the same number of units."""
    target = even(held, active)
    taken = {shard: held.get(shard, 0) - want for shard, want in target.items() if held.get(shard, 0) > want}
    given = {shard: want - held.get(shard, 0) for shard, want in target.items() if held.get(shard, 0) < want}
    return taken, given
