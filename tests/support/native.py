"""Tests of an optional native pass: skipped where it was not built, unless the suite requires it.

``scripts/test`` installs a C compiler and sets ``WHY502_REQUIRE_NATIVE=1``: there a pass that
silently failed to build must fail the suite, not skip its tests.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


def native_pass(module: str, what: str) -> tuple[bool, pytest.MarkDecorator]:
    """(whether ``module`` was built, the ``pytestmark`` that skips a test file without it)."""
    built = importlib.util.find_spec(module) is not None
    mark = pytest.mark.skipif(not built and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                              reason=f"{what} was not built (no C compiler at install time)")
    return built, mark
