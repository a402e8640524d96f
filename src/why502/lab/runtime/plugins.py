"""A proxy's lab runtime, reached through the registry (docs/architecture.md, "A proxy's plug-ins").

Each proxy's runtime -- its config written around a scenario's body, checked with the program's
own test, the program started in the foreground and stopped by its PID, where its evidence lands --
is its folder's ``lab.py`` (``proxies/<name>/lab.py``), named by its ``Hooks.lab_runtime``.  The
stack, the scenarios and the recorders resolve it here instead of importing it, so the layer
order holds for every static import (``tests/proxies/test_plugins.py``).  Every lab plug-in has
``unavailable()``: why this machine cannot run the proxy (None: it can).
"""

from __future__ import annotations

from types import ModuleType

from why502.lab.runtime.errors import LabSkip
from why502.proxies import PROXIES
from why502.proxies.base import resolve


def lab_plugin(name: str) -> ModuleType:
    """The lab plug-in module of the registered proxy ``name`` (its ``Hooks.lab_runtime`` names
    the launcher in it); LabSkip for a proxy without one (Traefik)."""
    hook = PROXIES[name].hooks.lab_runtime
    if not hook:
        raise LabSkip(f"the lab has no runtime for {PROXIES[name].vocabulary.title}")
    module = resolve(hook.partition(":")[0])
    assert isinstance(module, ModuleType)
    return module


def indent(text: str, n: int) -> str:
    """``text`` with every non-blank line indented by ``n`` spaces (config blocks inside blocks)."""
    pad = " " * n
    return "\n".join(pad + line if line.strip() else line for line in text.splitlines())
