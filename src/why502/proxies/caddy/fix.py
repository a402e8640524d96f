"""Caddy as ``why502 fix`` drives it (its ``Hooks.fix_service``): validate, reload through the
admin API, the running server.

- Config test: ``caddy validate --config FILE --adapter caddyfile`` (no ``--adapter`` for a JSON
  config): it adapts the Caddyfile, loads every module and provisions it without starting a
  server, exiting non-zero on any error ("caddy validate", https://caddyserver.com/docs/
  command-line#caddy-validate).
- Reload: ``caddy reload --config FILE --adapter caddyfile --address ADMIN`` POSTs the adapted
  config to the running instance's ``/load`` and returns when it is in effect; Caddy keeps the
  old config when the new one fails to load ("caddy reload", command-line docs; admin API
  ``POST /load``: "If the new config fails ... the old config is rolled back").  ``ADMIN`` is the
  config's own ``admin`` option (default ``localhost:2019``), and only a loopback address is
  used: a reload is never sent to another host.
- One process: a reload swaps the config inside the running server (no new workers, no
  children), so its log lines cannot be told as the old or the new config's and none are read
  to judge the change: ``--verify-url`` and the finding's probes do (``error_logs`` is empty).
- The files: the main Caddyfile or JSON; Caddy prints no list of the files an ``import`` reads,
  so a change to an imported file is outside what ``fix`` may write.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from why502.app.fix.service import OneFile, Outcome, alive, holds_listener, listening_inodes, run_program
from why502.errors import InputError
from why502.proxies.caddy.detect import looks_like_json
from why502.proxies.caddy.proxy import PROXY
from why502.proxies.caddy.source import caddy_config
from why502.sources.opening import read_small
from why502.sources.proxyprocs import master_of

DEFAULT_ADMIN = "localhost:2019"  # Caddy's admin endpoint when the config names none


def loopback_admin(address: str) -> str | None:
    """``address`` (the ``admin`` option, ``host:port``) when it is a loopback TCP address,
    else None: why502 sends a reload to this host only."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not host:
        return None
    if host == "localhost":
        return address
    try:
        return address if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Caddy(OneFile):
    name = PROXY.name
    label = "caddy validate"
    binaries = ("caddy", "/usr/bin/caddy")

    def _adapter(self) -> list[str]:
        """``--adapter caddyfile`` for a Caddyfile; nothing for a JSON config (Caddy's own)."""
        try:
            text = read_small(self.conf, 1 << 20)
        except (OSError, UnicodeDecodeError):
            return ["--adapter", "caddyfile"]
        return [] if looks_like_json(text) else ["--adapter", "caddyfile"]

    def test(self) -> Outcome:
        return run_program([self.binary, "validate", "--config", self.conf, *self._adapter()])

    def master(self) -> int | None:
        proc = master_of(self.name, self.conf)
        return proc.pid if proc is not None and alive(proc.pid) else None

    def admin(self) -> tuple[str | None, str]:
        """The admin address the config names (``admin``; default ``localhost:2019``) when it is
        on loopback, else None and why."""
        try:
            cfg = caddy_config(self.conf)
        except (OSError, InputError) as err:
            return None, f"cannot read {self.conf} for its admin address: {err}"
        if cfg.admin is None:
            return None, "the config turns the admin API off ('admin off'): caddy reload cannot reach it"
        address = loopback_admin(cfg.admin)
        if address is None:
            return None, (f"the admin API {cfg.admin} is not a loopback TCP address: why502 reloads "
                          "through this host's loopback only")
        return address, ""

    def reload(self) -> Outcome:
        """``caddy reload`` to the admin API of the Caddy that runs this config, and only when
        that address is its own listening socket: ``caddy reload`` sends the config to whatever
        answers there, which could be another Caddy of this host."""
        master = self.master()
        if master is None:
            return Outcome(False, f"no running caddy was started with --config {self.conf}: not reloaded")
        address, why = self.admin()
        if address is None:
            return Outcome(False, f"not reloaded: {why}")
        if not holds_listener(master, listening_inodes(int(address.rpartition(":")[2]))):
            return Outcome(False, f"the admin API {address} is not that of the caddy running {self.conf} "
                                  f"(pid {master}): not reloaded")
        how = f"caddy reload (admin API {address})"
        out = run_program([self.binary, "reload", "--config", self.conf, *self._adapter(),
                           "--address", address])
        if not out.ok:
            return Outcome(False, f"{how} failed: {out.message}")
        return Outcome(True, how)
