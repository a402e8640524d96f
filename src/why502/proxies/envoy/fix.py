"""Envoy as ``why502 fix`` drives it (its ``Hooks.fix_service``): the change is tested, never
applied live (the class's docstring says why)."""

from __future__ import annotations

from dataclasses import dataclass

from why502.app.fix.service import OneFile, Outcome
from why502.proxies.envoy.proxy import PROXY


@dataclass(frozen=True)
class Envoy(OneFile):
    """Envoy: the config test is ``envoy --mode validate -c FILE`` (docs/root/operations/cli.rst);
    a static bootstrap is never re-read in place (a hot restart starts a new process with
    ``--restart-epoch N+1`` under a restarter, hot_restart.rst; xDS comes from a control
    plane), so ``reload`` refuses and says so: the change is checked, not applied live."""

    name = PROXY.name
    label = "envoy --mode validate"
    binaries = ("envoy", "/usr/local/bin/envoy")
    test_args = ("--mode", "validate", "-c", "{conf}", "-l", "error")

    def master(self) -> int | None:
        return None

    def reload(self) -> Outcome:
        return Outcome(False, "Envoy does not re-read its bootstrap in place: restart it (or hot-restart "
                              "it with --restart-epoch) to apply the change")
