"""The benchmark's log generator (bench/gen_access_log.py) for tests that need logs whose exact
truth is known: one loader instead of a copy in every test module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "bench"


def gen_module() -> Any:
    """The generator module (``generate(lines, out, ...)`` writes logs and returns the truth)."""
    if "gen_access_log" in sys.modules:
        return sys.modules["gen_access_log"]
    spec = importlib.util.spec_from_file_location("gen_access_log", BENCH / "gen_access_log.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_access_log"] = mod
    spec.loader.exec_module(mod)
    return mod
