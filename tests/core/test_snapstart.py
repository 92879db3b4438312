"""A SnapStart restore refreshes what environments restored from one snapshot must not share."""
from __future__ import annotations

import random
import sys
import types

from chalicelib.core import aws, dynamo, settings, snapstart


def test_restore_gives_new_clients_and_session_but_keeps_the_loaded_service_models():
    client, session = aws.client("dynamodb"), aws._session()
    models = session._session.get_component("data_loader")
    snapstart.after_restore()
    assert aws.client("dynamodb") is not client
    renewed = aws._session()
    assert renewed is not session and renewed._session is not session._session  # credentials, connections
    assert renewed._session.get_component("data_loader") is models
    assert aws.client("dynamodb").meta.region_name == "us-east-1"


def test_restore_forgets_cached_settings_and_the_cursor_key(monkeypatch):
    monkeypatch.setenv("CURSOR_KEY", "before-the-snapshot")
    settings.reset_settings()
    dynamo.cursor_key.cache_clear()
    assert dynamo.cursor_key() == b"before-the-snapshot"
    monkeypatch.setenv("CURSOR_KEY", "rotated")
    assert dynamo.cursor_key() == b"before-the-snapshot"  # cached per container
    snapstart.after_restore()
    assert dynamo.cursor_key() == b"rotated"
    assert settings.settings().cursor_key == "rotated"


def test_restore_reseeds_random_so_restored_environments_draw_differently():
    random.seed(1234)  # as if the snapshot held this state
    snapshotted = random.getstate()
    snapstart.after_restore()
    first = random.random()
    random.setstate(snapshotted)
    assert random.random() != first


def test_restore_runs_what_other_modules_register_and_skips_what_is_not_loaded(monkeypatch):
    refreshed = []
    monkeypatch.setattr(snapstart, "_refreshers", [])
    snapstart.on_restore(lambda: refreshed.append("account statuses"))
    monkeypatch.delitem(sys.modules, "chalicelib.payments.webhook", raising=False)
    snapstart.after_restore()
    assert refreshed == ["account statuses"] and "chalicelib.payments.webhook" not in sys.modules


def test_the_hook_is_registered_only_where_the_runtime_offers_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # outside Lambda: not importable
    assert snapstart.register() is False
    registered = []
    monkeypatch.setitem(sys.modules, "snapshot_restore_py",
                        types.SimpleNamespace(register_after_restore=registered.append))
    assert snapstart.register() is True and registered == [snapstart.after_restore]
