"""nginx's config in diagnose's cause model (``Hooks.diagnose_view``): ``--config``/``--nginx-conf``
(a file or a saved ``nginx -T`` dump), else this host's (``nginx -T``, unless ``--offline``, else
``/etc/nginx/nginx.conf``), read once per run (``proxies.nginx.source``); its targets and
upstream groups (``proxies.nginx.facts``), its worker limits and user, and the logs it names.

The steps only nginx's path has -- run ``nginx -T``, fall back to the packaged path, say so
when neither exists, read nothing of the host's config when only logs are named -- are here,
declared by the view this returns (None: no config read), not a branch of ``app.diagnose``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from why502.app.diagnose.inputs import log_paths
from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.proxies import ProxyView
from why502.errors import InputError
from why502.findings.model import Diagnostic, Severity
from why502.proxies.base import SCHEMA_1_CONFIG
from why502.proxies.nginx import source
from why502.proxies.nginx.config import NginxConfig
from why502.proxies.nginx.config.serving import nginx_router
from why502.proxies.nginx.facts import (
    config_facts,
    limit_settings,
    nginx_listens,
    worker_connections,
    worker_rlimit_nofile,
    worker_user,
)
from why502.proxies.nginx.proxy import PROXY

_SEVERITIES: dict[str, Severity] = {"info": "info", "warning": "warning", "error": "error"}


def read_nginx(options: DiagnoseOptions, diags: list[Diagnostic],
               inputs: dict[str, Any]) -> ProxyView | None:
    """nginx's config as a :class:`ProxyView` (None when none is read: only logs named, or no
    nginx and no /etc/nginx/nginx.conf on this host, or this host's config unreadable: each a
    note), and the logs it names unless ``--error-log``/``--access-log`` name them."""
    if options.config is not None and options.default_proxy_config is None:
        options = replace(options, default_proxy_config=options.config)
    cfg = nginx_config(options, diags, inputs)
    if cfg is None:
        return None
    targets, groups, files = config_facts(cfg)
    user, group, user_line = worker_user(cfg)
    view = ProxyView(PROXY.name, cfg.main_file, targets, groups, files, {}, nginx_listens(cfg),
                     user=user, group=group, user_line=user_line,
                     limit_settings=limit_settings(cfg), max_connections=worker_connections(cfg),
                     max_open_files=worker_rlimit_nofile(cfg), engine_config=cfg,
                     router=nginx_router(cfg))
    if not options.error_logs:
        view.error_logs = log_paths([], cfg, "error", diags, options.prefix, options.root)
    if not options.access_logs:
        view.access_logs = log_paths([], cfg, "access", diags, options.prefix, options.root)
    return view


def nginx_config(options: DiagnoseOptions, diags: list[Diagnostic],
                 inputs: dict[str, Any]) -> NginxConfig | None:
    """nginx's config (``proxies.nginx.source.load_config``); its parse problems become notes."""
    if options.default_proxy_config is None and options.logs_only():
        diags.append(Diagnostic("info", "only the logs named were read: this host's proxy config was "
                                "not (pass --config FILE, or --discover to read this host's)"))
        return None
    # read as attributes of the module: tests stand in for this host's nginx by patching them
    nginx = None if options.offline else source.find_nginx()  # --offline starts no process
    if options.default_proxy_config is None and nginx is None and not os.path.exists(source.DEFAULT_CONF):
        why = "--offline: nginx -T not run" if options.offline else "nginx is not installed"
        diags.append(Diagnostic("info", f"{why} and /etc/nginx/nginx.conf does not "
                                "exist: diagnosing from the logs given only"))
        return None
    try:
        cfg = source.load_config(options.default_proxy_config, run_nginx=not options.offline,
                                 root=options.root)
    except InputError as err:
        if options.default_proxy_config is not None:
            raise
        diags.append(Diagnostic("warning", f"nginx config not read: {err}"))
        return None
    errors = [p for p in cfg.problems if p.severity == "error"]
    if options.default_proxy_config is not None and not cfg.main.directives and errors:
        # the wrong file given (a binary, a log): unreadable input like for `why502 lint`, not
        # "no root cause found" and exit 0
        why = (errors[0].message.splitlines() or [""])[0]
        raise InputError(f"{options.default_proxy_config}: not a readable nginx config: {why}")
    for p in cfg.problems:
        diags.append(Diagnostic(_SEVERITIES.get(p.severity, "warning"), p.message,
                                f"{p.file}:{p.line}" if p.file else None))
    inputs[SCHEMA_1_CONFIG] = cfg.main_file
    inputs[f"{SCHEMA_1_CONFIG}_source"] = cfg.source
    inputs["config_files"] = list(cfg.files)
    return cfg
