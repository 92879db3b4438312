"""Failed-attempt counters (core/attempts.py): every failure counted once, even when failures race."""
from __future__ import annotations

import pytest

from chalicelib.core import attempts
from chalicelib.core.attempts import Attempts, Limit, TooManyAttempts

GUESS = Limit("test-guess", free=2)


def failures(subject: str) -> int:
    from chalicelib.core.dynamo import batch_get

    found = batch_get([(attempts._pk((GUESS, subject)), "ATTEMPTS")])
    return next(iter(found.values()), {}).get("failures", 0)


def test_a_failure_landing_between_a_quiet_counters_refused_update_and_the_fresh_start_is_still_counted(aws,
                                                                                                   monkeypatch):
    real = attempts._start

    def competitor_first(pk, moment, quiet):
        monkeypatch.setattr(attempts, "_start", real)
        Attempts([(GUESS, "ann")]).failed()  # another request's failure starts the counter first
        return real(pk, moment, quiet)

    monkeypatch.setattr(attempts, "_start", competitor_first)
    Attempts([(GUESS, "ann")]).failed()
    assert failures("ann") == 2


def test_a_key_waits_after_its_free_failures_and_a_success_clears_it(aws):
    guesses = Attempts([(GUESS, "bob")])
    guesses.check()
    guesses.failed()
    guesses.failed()
    with pytest.raises(TooManyAttempts) as held:
        Attempts([(GUESS, "bob")]).check()
    assert held.value.status == 429 and held.value.headers == {"Retry-After": "1"}
    Attempts([(GUESS, "someone-else")]).check()  # other keys are not held back
    cleared = Attempts([(GUESS, "bob")])
    with pytest.raises(TooManyAttempts):
        cleared.check()
    cleared.succeeded()
    assert failures("bob") == 0


@pytest.mark.parametrize("failed,quiet_for,wait", [(1, 0, 0), (2, 0, 1), (3, 0, 2), (4, 0.5, 4), (20, 0, 900),
                                                   (20, 900, 0)])
def test_the_wait_doubles_up_to_its_cap_and_a_quiet_key_starts_afresh(failed, quiet_for, wait):
    assert GUESS.wait(failed, 1000.0, 1000.0 + quiet_for) == wait
