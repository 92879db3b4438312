"""What a SnapStart restore must not reuse from the snapshot, refreshed before the first invocation.

Lambda restores every new execution environment of a snapshotted version from one snapshot, so
whatever initialisation left behind is shared by all of them and may be hours old: the `random`
module's state, the AWS session's credentials and open connections, and what the container cached
once (settings, the cursor key, the webhook secret). `uuid4` and `secrets` read the OS and are safe.
The hooks come from the runtime's snapshot_restore_py, present only in Lambda's Python runtimes;
elsewhere (locally, in tests) nothing is registered and `after_restore` can be called directly.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Callable

# Caches cleared on restore where their module is loaded: (module, getter). A module that is not
# loaded yet holds nothing to clear, and is not imported here (a restore stays cheap).
CACHED = (
    ("chalicelib.core.settings", "settings"),
    ("chalicelib.core.dynamo", "cursor_key"),
    ("chalicelib.payments.webhook", "webhook_secret"),
)
_refreshers: list[Callable[[], None]] = []


def on_restore(refresh: Callable[[], None]) -> Callable[[], None]:
    """Register something else a restored environment must refresh (e.g. a per-container cache)."""
    _refreshers.append(refresh)
    return refresh


def after_restore() -> None:
    random.seed()  # from os.urandom: environments restored from one snapshot would draw the same numbers
    from chalicelib.core.aws import renew_session

    renew_session()
    for module, getter in CACHED:
        loaded = sys.modules.get(module)
        if loaded is not None:
            getattr(loaded, getter).cache_clear()
    for refresh in _refreshers:
        refresh()


def snapshotting() -> bool:
    """This initialisation ends in a snapshot (SnapStart): what it loads costs no request anything."""
    import os

    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def register() -> bool:
    """Called once by app.py at import: registers the restore hook where the runtime offers it."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:  # not in Lambda's Python runtime: no snapshots here
        return False
    register_after_restore(after_restore)
    return True
