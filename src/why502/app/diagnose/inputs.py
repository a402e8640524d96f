"""The configs diagnose reads before any log: nginx's (``--nginx-conf``, else ``nginx -T``, else
``/etc/nginx/nginx.conf``) or another proxy's (``proxies``), the logs it names, and PHP-FPM's
pools (``--fpm-conf`` or found).  ``read_config`` is the one provider of ``ConfigFacts``.

Each reader appends what it could not read to ``diags`` (a note under the answer) and raises
``InputError`` only for what the user named (``options.DiagnoseOptions``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions, nothing_to_read
from why502.app.diagnose.proxies import ProxyView, read_with_hooks, which_proxy
from why502.errors import InputError
from why502.evidence.config_facts import config_facts, limit_settings, nginx_listens
from why502.evidence.model import ConfigFacts
from why502.facts.fpm import FpmPool
from why502.facts.setting import Setting
from why502.findings.model import Diagnostic, Severity
from why502.proxies import PROXIES, source_of
from why502.proxies.base import resolve
from why502.proxies.nginx.config import NginxConfig
from why502.sources.fpm import FpmConfig, fpm_log_paths, load_fpm_config
from why502.sources.opening import discovered_skip

_SEVERITIES: dict[str, Severity] = {"info": "info", "warning": "warning", "error": "error"}


def nginx_config(options: DiagnoseOptions, diags: list[Diagnostic],
                 inputs: dict[str, Any]) -> NginxConfig | None:
    """nginx's config (``proxies.nginx.source.load_config``); its parse problems become notes."""
    if options.nginx_conf is None and options.logs_only():
        diags.append(Diagnostic("info", "only the logs named were read: this host's proxy config was "
                                "not (pass --config FILE, or --discover to read this host's)"))
        return None
    source = source_of()
    nginx = None if options.offline else source.find_nginx()  # --offline starts no process
    if options.nginx_conf is None and nginx is None and not os.path.exists(source.DEFAULT_CONF):
        why = "--offline: nginx -T not run" if options.offline else "nginx is not installed"
        diags.append(Diagnostic("info", f"{why} and /etc/nginx/nginx.conf does not "
                                "exist: diagnosing from the logs given only"))
        return None
    try:
        cfg: NginxConfig = source.load_config(options.nginx_conf, run_nginx=not options.offline,
                                              root=options.root)
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
              diags: list[Diagnostic], prefix: str | None = None, root: str | None = None) -> list[str]:
    """The ``kind`` (``error``/``access``) logs to read: the named ones, else the config's.  A
    relative path in the config is relative to nginx's prefix (``-p PREFIX`` of the running
    master, ``prefix``; ``ngx_conf_full_name(cycle, name, 0)``, src/core/ngx_conf_file.c).
    ``root``: the running master's root (``/proc/PID/root`` of an nginx in a container), under
    which every path the config names is read; its standard streams are nginx's, not ours."""
    if given:
        return list(given)
    if cfg is None:
        return []
    targets = cfg.error_logs if kind == "error" else cfg.access_logs
    out: list[str] = []
    if not targets:
        # no error_log/access_log directive: nginx's compiled-in path (Debian/upstream packages:
        # --error-log-path / --http-log-path = /var/log/nginx/{error,access}.log)
        default = f"{root or ''}/var/log/nginx/{kind}.log"
        if os.path.exists(default) and not (root and discovered_skip(default)):
            diags.append(Diagnostic("info", f"no {kind}_log in the config: reading nginx's "
                                    f"default {default}"))
            return [default]
        return []
    for lt in targets:
        path = lt.path
        if lt.is_off or path.startswith(("syslog:", "memory:")):
            continue
        if path in ("stderr", "/dev/stderr", "/dev/stdout"):
            if root:  # in a container: what the runtime keeps, not a file of ours to read
                diags.append(Diagnostic("info", f"{kind} log not read: the nginx running under {root} "
                                        f"writes it to {path} (read it with: docker logs CONTAINER "
                                        "2>&1 | why502 ...)", path))
            continue
        if "$" in path:
            diags.append(Diagnostic("info", f"{kind} log path with variables not read: {path}"))
            continue
        if prefix and not os.path.isabs(path):
            path = os.path.join(prefix, path)
        if root and os.path.isabs(path):
            path = os.path.normpath(root + path)
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


@dataclass
class ConfigRead:
    """The config provider's result: the ``ConfigFacts`` record, the parsed configs the other
    providers read from (never parsed again), and the log files the configs name."""

    proxy: str
    facts: ConfigFacts
    nginx: NginxConfig | None
    view: ProxyView | None  # another proxy's config (its Hooks.diagnose_view / config_facts)
    error_logs: list[str]
    access_logs: list[str]
    fpm_logs: list[str]

    @property
    def aliases(self) -> dict[str, str]:
        """Another proxy's server names -> identity keys (what its log lines name)."""
        return self.view.aliases if self.view is not None else {}


def read_config(options: DiagnoseOptions, diags: list[Diagnostic],
                inputs: dict[str, Any]) -> ConfigRead:
    """The one provider of ``ConfigFacts``: the proxy's config (each file parsed once), the
    logs it names and PHP-FPM's pools; ``InputError`` when there is nothing to read at all."""
    proxy = which_proxy(options)
    view: ProxyView | None = None
    cfg: NginxConfig | None = None
    hooks = PROXIES[proxy].hooks
    if hooks.diagnose_view:  # a proxy whose config the cause model reads through its own plug-in
        view = resolve(hooks.diagnose_view)(options, diags, inputs)  # type: ignore[operator]
        targets, groups, files = view.targets, view.groups, view.files
    elif hooks.config_facts is not None:  # ... or through its config loader and facts
        view = read_with_hooks(options, diags, inputs, proxy)
        targets, groups, files = view.targets, view.groups, view.files
    else:  # the default proxy's own path (nginx's config, -T dump, the logs it names)
        if options.config is not None and options.nginx_conf is None:
            options = replace(options, nginx_conf=options.config)
        cfg = nginx_config(options, diags, inputs)
        targets, groups, files = config_facts(cfg) if cfg is not None else ([], {}, {})
    inputs["targets"] = sorted({t.key for t in targets})
    error_logs = (view.error_logs if view is not None and not options.error_logs
                  else log_paths(options.error_logs, cfg, "error", diags, options.prefix, options.root))
    access_logs = (view.access_logs if view is not None and view.access_logs and not options.access_logs
                   else log_paths(options.access_logs, cfg, "access", diags, options.prefix, options.root))
    pools: list[FpmPool] = []
    fpm_config: FpmConfig | None = None
    # a proxy in a container: this host's PHP-FPM pools are not the ones behind it
    if options.fpm_conf or not (options.offline or options.logs_only() or options.root):
        pools, fpm_config = fpm_pools(options.fpm_conf, diags, explicit=bool(options.fpm_conf))
    logs_fpm = list(options.fpm_logs) or fpm_logs(fpm_config)
    if cfg is None and view is None and not (error_logs or access_logs or logs_fpm
                                             or options.kernel_log or options.app_logs
                                             or options.app_confs):
        raise nothing_to_read(options)
    for pool in pools:  # the pool files' lines, for the diffs of FPM fixes
        if pool.file and pool.file not in files:
            with contextlib.suppress(OSError):
                files[pool.file] = tuple(Path(pool.file).read_text(encoding="utf-8", errors="replace")
                                         .splitlines())
    user = (cfg.user.split()[0] if cfg is not None and cfg.user else None) or (
        view.user if view is not None else None)
    group = cfg.worker_identity()[1] if cfg is not None and cfg.user else (
        view.group if view is not None else None)
    facts = ConfigFacts(
        targets=tuple(targets), groups=groups, files=files,
        listens=nginx_listens(cfg) if cfg is not None else (view.listens if view else ()),
        limit_settings=limit_settings(cfg) if cfg is not None else (),
        main_file=cfg.main_file if cfg is not None else (view.main_file if view else None),
        user=user, group=group, max_connections=worker_connections(cfg),
        max_open_files=worker_rlimit_nofile(cfg), fpm_pools=tuple(pools),
        runtime_socket=view.runtime_socket if view is not None else None,
        unit=options.unit, prefix=options.prefix)
    return ConfigRead(proxy, facts, cfg, view, error_logs, access_logs, logs_fpm)
