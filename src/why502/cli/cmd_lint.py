"""`why502 lint` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from why502.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments yet."""


def run(args: argparse.Namespace) -> int:
    raise UsageError("'lint' is not implemented yet")
