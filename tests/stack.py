"""The stack's resources inside in-process moto, created from the merge template like the local stack."""
from __future__ import annotations


def create_stack() -> dict:
    from local.bootstrap import bootstrap

    return bootstrap("local", None)
