"""HAProxy's config in diagnose's cause model (``Hooks.diagnose_view``): the ``haproxy.cfg``
(``--config``, else /etc/haproxy/haproxy.cfg) read once per run, its targets and backends
(``proxies.haproxy.facts``), its log file, and -- live only -- each server's state from the
runtime API (``show stat``, doc/management.txt 9.3; ``proxies.haproxy.source``)."""

from __future__ import annotations

import os
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.proxies import LiveStates, ProxyView
from why502.errors import InputError
from why502.facts.server_state import ServerState
from why502.findings.model import Diagnostic
from why502.parsers.rooted import proc_root, under_root
from why502.proxies.haproxy import source
from why502.proxies.haproxy.config import HaproxyConfig
from why502.proxies.haproxy.facts import haproxy_facts, header_limit, limit_settings, listens
from why502.proxies.haproxy.proxy import PROXY

# Debian's package ships /etc/rsyslog.d/49-haproxy.conf writing here
DEBIAN_LOG = PROXY.vocabulary.default_error_log


def read_haproxy(options: DiagnoseOptions, diags: list[Diagnostic],
                 inputs: dict[str, Any]) -> ProxyView:
    """The ``haproxy.cfg`` (``--config`` or /etc/haproxy/haproxy.cfg) and, live, ``show stat``.
    Logs alone (``DiagnoseOptions.logs_only``: the logs were sniffed as HAProxy's) read no
    config of this host, as nginx's logs alone do: they may come from another machine, and a
    packaged ``haproxy.cfg`` that names none of their backends is not theirs."""
    if options.config is None and options.logs_only():
        diags.append(Diagnostic("info", "only the logs named were read: this host's HAProxy config was "
                                "not (pass --config FILE, or --discover to read this host's)"))
        cfg = HaproxyConfig(main_file="")
    else:
        cfg = source.load_config(options.config)
        if not cfg.sections:
            raise InputError(f"{cfg.main_file}: not a readable haproxy.cfg (no section found)")
    for p in cfg.problems:
        diags.append(Diagnostic("warning" if p.severity != "error" else "error", p.message,
                                f"{p.file}:{p.line}" if p.file else None))
    targets, groups, files, aliases = haproxy_facts(cfg)
    view = ProxyView(PROXY.name, cfg.main_file, targets, groups, files, aliases, listens(cfg),
                     user=cfg.user, group=cfg.group,
                     runtime_socket=cfg.stats_sockets[0] if cfg.stats_sockets else None,
                     live_states=_live_states(cfg, aliases), limit_settings=limit_settings(cfg),
                     header_limit=header_limit(cfg))
    inputs["proxy"] = PROXY.name
    if cfg.main_file:
        inputs["config"] = cfg.main_file
        inputs["config_files"] = cfg.files
    one_log = _httplogs(options.access_logs) if not options.error_logs else []
    if one_log:
        # HAProxy writes one log: a session line is the request's access line and, in its
        # termination state, why it failed (configuration.txt 8.5).  Named as --access-log it
        # was read for its statuses only, "nothing read says why" a session that timed out
        view.error_logs = one_log
        return view
    if not options.error_logs:
        # a master in a container logs inside it: its syslog file is read through its root,
        # never this host's file of the same name (issue 31)
        log = under_root(options.root or proc_root(cfg.main_file), DEBIAN_LOG)
        if os.path.exists(log):
            view.error_logs = [log]
            return view
        targets_ = cfg.log_targets
        diags.append(Diagnostic("info", "HAProxy logs through syslog (" + (", ".join(targets_) or
                                "no 'log' line") + "): pass its log file with --error-log "
                                "(e.g. /var/log/haproxy.log)"))
    return view


def _live_states(cfg: HaproxyConfig, aliases: dict[str, str]) -> LiveStates:
    """The runtime API (``show stat``) of ``cfg``'s first stats socket that answers, by target
    key (``aliases``: ``backend/server`` -> key); read only when diagnose runs live."""
    def states(timeout: float, diags: list[Diagnostic],
               inputs: dict[str, Any]) -> dict[str, ServerState] | None:
        if not cfg.stats_sockets:
            diags.append(Diagnostic("info", "no 'stats socket' in the HAProxy config: live server "
                                    "states (runtime API) not read"))
            return None
        found, notes = source.server_states(cfg, timeout)
        diags += [Diagnostic("info", n) for n in notes]
        by_key = {}
        for st in found:
            key = aliases.get(st.name)
            if key is not None:
                by_key[key] = st
        inputs["runtime_api"] = bool(found)
        return by_key if found else None
    return states


def _httplogs(paths: tuple[str, ...] | list[str]) -> list[str]:
    """The files of ``paths`` whose first lines are HAProxy's httplog (``Hooks.access_sniff``)."""
    from why502.app.diagnose.proxies import sniff_access_logs

    return [p for p in paths if sniff_access_logs([p]) == PROXY.name]
