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
from why502.proxies.apache.facts import apache_facts
from why502.proxies.apache.proxy import PROXY
from why502.proxies.apache.source import apache_config


def read_apache(options: DiagnoseOptions, diags: list[Diagnostic],
                inputs: dict[str, Any]) -> ProxyView:
    """Apache's config (``--config``, else Debian's /etc/apache2/apache2.conf; httpd.conf
    elsewhere) and its ErrorLog."""
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
    inputs["config"] = cfg.main_file
    inputs["config_files"] = cfg.files
    view = ProxyView(PROXY.name, cfg.main_file, targets, groups, files, aliases, user=cfg.user,
                     group=cfg.group)
    if not options.error_logs:
        logs = [p for p in cfg.error_logs if os.path.exists(p)]
        missing = [p for p in cfg.error_logs if p not in logs]
        diags += [Diagnostic("info", f"ErrorLog {p} not found") for p in missing]
        view.error_logs = logs
    return view
