"""Code run in a new Python process, as a cold start runs it: nothing imported yet, the environment given."""
from __future__ import annotations

import subprocess
import sys

# What a Lambda execution environment of the API sets that the app reads (domains registered on need).
LAMBDA = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "shop-test"}


def run_fresh(code: str, env: dict[str, str] | None = None) -> str:
    """Runs `code` with `env` (Lambda's by default); fails with its stderr unless it exits 0; answers its stdout."""
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            env=LAMBDA if env is None else env)
    assert result.returncode == 0, result.stderr
    return result.stdout
