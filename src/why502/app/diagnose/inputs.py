"""The configs diagnose reads before any log: nginx's (``--nginx-conf``, else ``nginx -T``, else
``/etc/nginx/nginx.conf``), the logs it names, and PHP-FPM's pools (``--fpm-conf`` or found).

Each reader appends what it could not read to ``diags`` (a note under the answer) and raises
``InputError`` only for what the user named (``options.DiagnoseOptions``).
"""

from __future__ import annotations

import os
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.facts.fpm import FpmPool
from why502.facts.setting import Setting
from why502.findings.model import Diagnostic, Severity
from why502.parsers.nginx import NginxConfig
from why502.sources.fpm import FpmConfig, fpm_log_paths, load_fpm_config
from why502.sources.nginx import DEFAULT_CONF, find_nginx, load_config
from why502.sources.opening import discovered_skip

_SEVERITIES: dict[str, Severity] = {"info": "info", "warning": "warning", "error": "error"}


def nginx_config(options: DiagnoseOptions, diags: list[Diagnostic],
                 inputs: dict[str, Any]) -> NginxConfig | None:
    """nginx's config (``sources.nginx.load_config``); its parse problems become notes."""
    if options.nginx_conf is None and options.logs_only():
        diags.append(Diagnostic("info", "only the logs named were read: this host's proxy config was "
                                "not (pass --config FILE, or --discover to read this host's)"))
        return None
    nginx = None if options.offline else find_nginx()  # --offline starts no process
    if options.nginx_conf is None and nginx is None and not os.path.exists(DEFAULT_CONF):
        why = "--offline: nginx -T not run" if options.offline else "nginx is not installed"
        diags.append(Diagnostic("info", f"{why} and /etc/nginx/nginx.conf does not "
                                "exist: diagnosing from the logs given only"))
        return None
    try:
        cfg = load_config(options.nginx_conf, run_nginx=not options.offline)
    except InputError as err:
        if options.nginx_conf is not None:
            raise
        diags.append(Diagnostic("warning", f"nginx config not read: {err}"))
        return None
    errors = [p for p in cfg.problems if p.severity == "error"]
    if options.nginx_conf is not None and not cfg.main.directives and errors:
        # the wrong file given (a binary, a log): unreadable input like for `why502 lint`, not
        # "no root cause found" and exit 0
        why = (errors[0].message.splitlines() or [""])[0]
        raise InputError(f"{options.nginx_conf}: not a readable nginx config: {why}")
    for p in cfg.problems:
        diags.append(Diagnostic(_SEVERITIES.get(p.severity, "warning"), p.message,
                                f"{p.file}:{p.line}" if p.file else None))
    inputs["nginx_conf"] = cfg.main_file
    inputs["nginx_conf_source"] = cfg.source
    inputs["config_files"] = list(cfg.files)
    return cfg


def log_paths(given: list[str], cfg: NginxConfig | None, kind: str,
              diags: list[Diagnostic]) -> list[str]:
    """The ``kind`` (``error``/``access``) logs to read: the named ones, else the config's."""
    if given:
        return list(given)
    if cfg is None:
        return []
    targets = cfg.error_logs if kind == "error" else cfg.access_logs
    out: list[str] = []
    if not targets:
        # no error_log/access_log directive: nginx's compiled-in path (Debian/upstream packages:
        # --error-log-path / --http-log-path = /var/log/nginx/{error,access}.log)
        default = f"/var/log/nginx/{kind}.log"
        if os.path.exists(default):
            diags.append(Diagnostic("info", f"no {kind}_log in the config: reading nginx's "
                                    f"default {default}"))
            return [default]
        return []
    for lt in targets:
        path = lt.path
        if lt.is_off or path.startswith(("syslog:", "memory:")) or path in ("stderr", "/dev/stderr",
                                                                          "/dev/stdout"):
            continue
        if "$" in path:
            diags.append(Diagnostic("info", f"{kind} log path with variables not read: {path}"))
            continue
        if why := discovered_skip(path):  # the Docker image's access.log -> /dev/stdout, a FIFO
            diags.append(Diagnostic("info", f"{kind} log {why}", path))
            continue
        if path not in out:
            out.append(path)
    return out


def fpm_pools(fpm_conf: str | None, diags: list[Diagnostic],
              explicit: bool) -> tuple[list[FpmPool], FpmConfig | None]:
    """PHP-FPM pools (``sources.fpm.load_fpm_config``) and the config, for finding its log."""
    try:
        result = load_fpm_config(fpm_conf)
    except OSError as err:
        if explicit:
            raise InputError(f"cannot read {fpm_conf}: {err.strerror or err}") from None
        diags.append(Diagnostic("warning", f"PHP-FPM config not read: {err}"))
        return [], None
    if explicit and not result.pools and any(d.severity == "error" for d in result.diagnostics):
        raise InputError(next(d.message for d in result.diagnostics if d.severity == "error"))
    diags += [d for d in result.diagnostics if explicit or d.severity != "info"]
    return list(result.pools), result


def fpm_logs(fpm_config: FpmConfig | None) -> list[str]:
    """PHP-FPM's error logs that exist, from its config (``error_log``) or Debian's paths."""
    if fpm_config is None:
        return []
    try:
        # regular files only: a log that is a FIFO or a link to /dev/stderr is not read
        return [p for p in fpm_log_paths(None, fpm_config) if os.path.isfile(p)]
    except OSError:
        return []


def worker_connections(cfg: NginxConfig | None) -> Setting | None:
    """``worker_connections`` and its line (nginx's default 512 when unset)."""
    if cfg is None:
        return None
    d = cfg.worker_connections_line
    return Setting(str(cfg.worker_connections), d.file if d else None, d.line if d else None,
                   d is None)


def worker_rlimit_nofile(cfg: NginxConfig | None) -> Setting | None:
    if cfg is None or cfg.worker_rlimit_nofile is None:
        return None
    return Setting(str(cfg.worker_rlimit_nofile), None, None, False)
