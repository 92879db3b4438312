"""make load's own plumbing: it must kill only the function process a ready file names."""
from __future__ import annotations

import subprocess
import sys
import time

from tools.load import _runs_function


def test_a_function_process_is_recognised_however_narrow_the_terminal(monkeypatch):
    """ps cuts a command line to $COLUMNS: under a long virtualenv path the function's name fell off the end,
    and make load refused to kill a running function as 'not create_orders's'."""
    monkeypatch.setenv("COLUMNS", "20")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "local.function",
                                "create_orders"])
    try:
        time.sleep(0.3)
        assert _runs_function(process.pid, "create_orders")
        assert not _runs_function(process.pid, "api_handler")
    finally:
        process.kill()
        process.wait()
    assert not _runs_function(process.pid, "create_orders")  # gone: a ready file outliving it names no one
