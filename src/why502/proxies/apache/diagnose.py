"""Apache httpd's config in diagnose's cause model (``Hooks.diagnose_view``): its config
(``--config``, else Debian's ``/etc/apache2/apache2.conf``) read once per run, its targets and
balancer groups (``proxies.apache.facts``) and the ``ErrorLog`` files it names."""

from __future__ import annotations

import os
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.proxies import ProxyView
from why502.errors import InputError
from why502.findings.model import Diagnostic
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.apache.facts import apache_facts
from why502.proxies.apache.proxy import PROXY
from why502.proxies.apache.serving import apache_router
from why502.proxies.apache.source import apache_config


def read_apache(options: DiagnoseOptions, diags: list[Diagnostic],
                inputs: dict[str, Any]) -> ProxyView:
    """Apache's config (``--config``, else Debian's /etc/apache2/apache2.conf; httpd.conf
    elsewhere) and its ErrorLog.  Logs alone (``DiagnoseOptions.logs_only``: the logs were
    sniffed as Apache's, ``Hooks.error_sniff``) read no config of this host, as nginx's and
    HAProxy's logs alone do: they may come from another machine, and this host's packaged
    config (its ``CustomLog`` formats, its ``ProxyTimeout``) is not theirs."""
    if options.config is None and options.logs_only():
        diags.append(Diagnostic("info", "only the logs named were read: this host's Apache config was "
                                "not (pass --config FILE, or --discover to read this host's)"))
        cfg = ApacheConfig(main_file="", server_root="")
    else:
        path = options.config or PROXY.vocabulary.default_config
        try:
            cfg = apache_config(path)
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror or err}") from None
        if not cfg.directives:
            raise InputError(f"{path}: not a readable Apache config (no directive found)")
    diags += [Diagnostic("warning", p) for p in cfg.problems]
    targets, groups, files, aliases = apache_facts(cfg)
    inputs["proxy"] = PROXY.name
    if cfg.main_file:
        inputs["config"] = cfg.main_file
        inputs["config_files"] = cfg.files
    view = ProxyView(PROXY.name, cfg.main_file, targets, groups, files, aliases, user=cfg.user,
                     group=cfg.group, router=apache_router(cfg))
    if not options.error_logs:
        logs = [p for p in cfg.error_logs if os.path.exists(p)]
        missing = [p for p in cfg.error_logs if p not in logs]
        diags += [Diagnostic("info", f"ErrorLog {p} not found") for p in missing]
        view.error_logs = logs
    view.own_failures_logged = own_failures_logged(cfg, list(options.error_logs) or view.error_logs)
    return view


# LogLevel's levels, most severe first (server/log.c ``priorities``; trace1-8 after debug)
_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
           *(f"trace{n}" for n in range(1, 9)))
# the modules whose lines are Apache's own failures towards a FastCGI server: mod_proxy's
# proxy_util.c (AH00957 connect failed, AH02454 unix socket, AH00940/AH00941 no connection),
# mod_proxy_fcgi (AH01067-AH01075, AH01079) and the core's util_script.c (malformed script
# headers); each logs them at APLOG_ERR
_FAILURE_MODULES = ("core", "proxy", "proxy_fcgi")


def own_failures_logged(cfg: ApacheConfig, read: list[str]) -> bool | None:
    """Whether the error log ``read`` would hold every failure Apache makes itself towards a
    FastCGI server: True when each ``ErrorLog`` of the config is a file and one of those read (by its
    name: ``watch`` hands its diagnosis a copy of the window under the same name), and no
    ``LogLevel`` (any scope) sets the general level, or a failure module's, above ``error``.

    Why it matters: mod_proxy and mod_proxy_fcgi log each 5xx they make themselves at
    ``APLOG_ERR`` -- proxy_util.c ``ap_proxy_connect_backend`` (AH00957, AH02454),
    ``ap_proxy_acquire_connection`` (AH00940, AH00941); mod_proxy_fcgi.c ``fcgi_do_request``
    (AH01073, AH01074, AH01075 before each 503/504) and ``proxy_fcgi_handler`` (AH01079) -- while
    ``dispatch()`` relays a complete FastCGI answer with the script's ``Status:`` without a line
    (apache/httpd modules/proxy/mod_proxy_fcgi.c).  server/log.c drops a line whose level is
    below the configured one.  None when the config names no ErrorLog (httpd's compiled-in
    default is then in effect, not read here) or no error log was read."""
    if not read:
        return None
    directives = cfg.values("ErrorLog")
    if not directives:
        return None
    names = {os.path.basename(p) for p in read}
    for d in directives:
        path = d.args[0] if d.args else ""
        if not path or path.startswith(("|", "syslog")) or os.path.basename(path) not in names:
            return False
    worst = _LEVELS.index("error")
    for d in cfg.values("LogLevel"):
        general: str | None = None
        own: dict[str, str] = {}
        for arg in d.args:
            module, _, level = arg.lower().rpartition(":")
            if module:
                own[module.removeprefix("mod_").removesuffix(".c")] = level
            else:
                general = level
        # a module's own level overrides the directive's general one (core.html#loglevel)
        for module in _FAILURE_MODULES:
            effective = own.get(module, general)
            if effective in _LEVELS and _LEVELS.index(effective) < worst:
                return False
    return True
