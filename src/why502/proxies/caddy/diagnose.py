"""Caddy's config in diagnose's cause model (``Hooks.diagnose_view``): a Caddyfile through
``caddy adapt``, a JSON config or a saved admin ``/config/`` answer (``proxies.caddy.source``),
its upstreams and handlers (``proxies.caddy.facts``), the log files it names and, live, the admin
API's ``/reverse_proxy/upstreams``."""

from __future__ import annotations

import os
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.proxies import ProxyView
from why502.errors import InputError
from why502.findings.model import Diagnostic
from why502.proxies.caddy import source
from why502.proxies.caddy.facts import caddy_facts, peer_of_request
from why502.proxies.caddy.proxy import PROXY


def read_caddy(options: DiagnoseOptions, diags: list[Diagnostic],
               inputs: dict[str, Any]) -> ProxyView:
    """Caddy's config (``--config``: a Caddyfile through ``caddy adapt``, a JSON config or a
    saved admin ``/config/`` answer; else /etc/caddy/Caddyfile), the log files it names and,
    live, the admin API's ``/reverse_proxy/upstreams``."""
    try:
        cfg = source.load_config(options.config)
    except OSError as err:
        raise InputError(f"cannot read {options.config or source.DEFAULT_CONF}: "
                         f"{err.strerror or err}") from None
    if not cfg.handlers:
        diags.append(Diagnostic("warning", f"{cfg.main_file}: no reverse_proxy in this Caddy config"))
    diags += [Diagnostic("warning", p) for p in cfg.problems]
    targets, groups, files, aliases = caddy_facts(cfg)
    view = ProxyView(PROXY.name, cfg.main_file, targets, groups, files, aliases, cfg.listens(),
                     route=peer_of_request(cfg))
    inputs["proxy"] = PROXY.name
    inputs["config"] = cfg.main_file
    inputs["config_source"] = cfg.source
    inputs["config_files"] = cfg.files
    if not options.error_logs:
        view.error_logs = [p for p in cfg.error_logs if os.path.exists(p)]
        if not view.error_logs:
            why = ("Caddy writes its error lines to stderr unless a log names a file: pass them "
                   "with --error-log (journalctl -u caddy -o cat > caddy.log)")
            if options.offline and not (options.access_logs or view.access_logs):
                # nothing would be read: never "healthy" for a proxy whose logs were not seen
                raise InputError(f"{cfg.main_file}: {why}")
            diags.append(Diagnostic("info", why))
    if not options.access_logs:
        view.access_logs = [p for p in cfg.access_logs if os.path.exists(p)]
    if not options.offline:
        states, notes = source.upstream_states(cfg)
        diags += [Diagnostic("info", n) for n in notes]
        if states:
            inputs["admin_upstreams"] = [f"{s.address} num_requests={s.num_requests} fails={s.fails}"
                                         for s in states]
    return view
