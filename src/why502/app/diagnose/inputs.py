"""The configs diagnose reads before any log: the proxy's (read by its own plug-in,
``Hooks.diagnose_view``, into a ``proxies.ProxyView``: nginx's ``--nginx-conf``, else ``nginx -T``,
else ``/etc/nginx/nginx.conf``), the logs it names, and PHP-FPM's pools (``--fpm-conf`` or
found).  ``read_config`` is the one provider of ``ConfigFacts``.

Each reader appends what it could not read to ``diags`` (a note under the answer) and raises
``InputError`` only for what the user named (``options.DiagnoseOptions``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions, nothing_to_read
from why502.app.diagnose.proxies import ProxyView, read_with_hooks, which_proxy
from why502.errors import InputError
from why502.evidence.model import ConfigFacts
from why502.facts.fpm import FpmPool
from why502.facts.logconfig import LogConfig
from why502.findings.model import Diagnostic
from why502.proxies import PROXIES, of
from why502.proxies.base import resolve
from why502.sources.fpm import FpmConfig, fpm_log_paths, load_fpm_config
from why502.sources.logfiles import file_identity
from why502.sources.opening import discovered_skip


def log_paths(given: list[str], cfg: LogConfig | None, kind: str,
              diags: list[Diagnostic], prefix: str | None = None, root: str | None = None,
              proxy: str | None = None) -> list[str]:
    """The ``kind`` (``error``/``access``) logs to read: the named ones, else the config's (a
    ``LogConfig``: the default proxy's, nginx's, when ``proxy`` is None).  A relative path in the
    config is relative to nginx's prefix (``-p PREFIX`` of the running master, ``prefix``;
    ``ngx_conf_full_name(cycle, name, 0)``, src/core/ngx_conf_file.c).  ``root``: the running
    master's root (``/proc/PID/root`` of an nginx in a container), under which every path the
    config names is read; its standard streams are the proxy's, not ours.  The notes name the
    proxy in its word and its packaged paths are its declaration (``Vocabulary.title``,
    ``default_error_log``, ``default_access_log``)."""
    words = of(proxy).vocabulary
    if given:
        return list(given)
    if cfg is None:
        return []
    targets = cfg.error_logs if kind == "error" else cfg.access_logs
    out: list[str] = []
    if not targets:
        # no error_log/access_log directive: the compiled-in path (nginx's Debian/upstream
        # packages: --error-log-path / --http-log-path = /var/log/nginx/{error,access}.log)
        packaged = words.default_error_log if kind == "error" else words.default_access_log
        if not packaged.startswith("/"):
            return []
        default = f"{root or ''}{packaged}"
        if os.path.exists(default) and not (root and discovered_skip(default, proxy)):
            diags.append(Diagnostic("info", f"no {kind}_log in the config: reading {words.title}'s "
                                    f"default {default}"))
            return [default]
        return []
    for lt in targets:
        path = lt.path
        if lt.is_off or path.startswith(("syslog:", "memory:")):
            continue
        if path in ("stderr", "/dev/stderr", "/dev/stdout"):
            if root:  # in a container: what the runtime keeps, not a file of ours to read
                diags.append(Diagnostic("info", f"{kind} log not read: the {words.title} running under "
                                        f"{root} writes it to {path} (read it with: docker logs "
                                        "CONTAINER 2>&1 | why502 ...)", path))
            continue
        if "$" in path:
            diags.append(Diagnostic("info", f"{kind} log path with variables not read: {path}"))
            continue
        if prefix and not os.path.isabs(path):
            path = os.path.join(prefix, path)
        if root and os.path.isabs(path):
            path = os.path.normpath(root + path)
        if why := discovered_skip(path, proxy):  # the Docker image's access.log -> /dev/stdout, a FIFO
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


@dataclass
class ConfigRead:
    """The config provider's result: the ``ConfigFacts`` record, the parsed configs the other
    providers read from (never parsed again), and the log files the configs name."""

    proxy: str
    facts: ConfigFacts
    view: ProxyView | None  # the proxy's config (its Hooks.diagnose_view / config_facts); None: none read
    error_logs: list[str]
    access_logs: list[str]
    fpm_logs: list[str]

    @property
    def aliases(self) -> dict[str, str]:
        """Another proxy's server names -> identity keys (what its log lines name)."""
        return self.view.aliases if self.view is not None else {}

    @property
    def engine_config(self) -> Any:
        """The parsed config the statistics engine reads with the access logs
        (``ProxyView.engine_config``), None when none."""
        return self.view.engine_config if self.view is not None else None


def read_config(options: DiagnoseOptions, diags: list[Diagnostic],
                inputs: dict[str, Any]) -> ConfigRead:
    """The one provider of ``ConfigFacts``: the proxy's config (each file parsed once), the
    logs it names and PHP-FPM's pools; ``InputError`` when there is nothing to read at all."""
    proxy = which_proxy(options)
    hooks = PROXIES[proxy].hooks
    view: ProxyView | None
    if hooks.diagnose_view:  # the proxy's own plug-in (None: no config read, a note says why)
        view = resolve(hooks.diagnose_view)(options, diags, inputs)  # type: ignore[operator]
    else:  # ... or its config loader and facts
        view = read_with_hooks(options, diags, inputs, proxy)
    targets, groups, files = (view.targets, view.groups, view.files) if view is not None else ([], {}, {})
    inputs["targets"] = sorted({t.key for t in targets})
    error_logs = (view.error_logs if view is not None and not options.error_logs
                  else list(options.error_logs))
    access_logs = (view.access_logs if view is not None and view.access_logs and not options.access_logs
                   else list(options.access_logs))
    # a log the edge reader read already (Caddy's access log named with --access-log, which its
    # Caddyfile names too): not read again as the proxy's own lines -- it matched none of them,
    # and the note said the access log was "not used"
    edge_read = {file_identity(p) for p in (inputs.get("edge") or {}).get("access_logs") or ()}
    access_logs = [p for p in access_logs if file_identity(p) not in edge_read] if edge_read else access_logs
    pools: list[FpmPool] = []
    fpm_config: FpmConfig | None = None
    # a proxy in a container: this host's PHP-FPM pools are not the ones behind it
    if options.fpm_conf or not (options.offline or options.logs_only() or options.root):
        pools, fpm_config = fpm_pools(options.fpm_conf, diags, explicit=bool(options.fpm_conf))
    logs_fpm = list(options.fpm_logs) or fpm_logs(fpm_config)
    if view is None and not (error_logs or access_logs or logs_fpm or options.kernel_log
                             or options.app_logs or options.app_confs):
        raise nothing_to_read(options)
    for pool in pools:  # the pool files' lines, for the diffs of FPM fixes
        if pool.file and pool.file not in files:
            with contextlib.suppress(OSError):
                files[pool.file] = tuple(Path(pool.file).read_text(encoding="utf-8", errors="replace")
                                         .splitlines())
    facts = ConfigFacts(
        targets=tuple(targets), groups=groups, files=files,
        listens=view.listens if view is not None else (),
        limit_settings=view.limit_settings if view is not None else (),
        header_limit=view.header_limit if view is not None else None,
        main_file=(view.main_file or None) if view is not None else None,  # "": none read (logs alone)
        user=view.user if view is not None else None,
        group=view.group if view is not None else None,
        max_connections=view.max_connections if view is not None else None,
        max_open_files=view.max_open_files if view is not None else None, fpm_pools=tuple(pools),
        runtime_socket=view.runtime_socket if view is not None else None,
        own_failures_logged=view.own_failures_logged if view is not None else None,
        unit=options.unit, prefix=options.prefix, router=view.router if view is not None else None)
    return ConfigRead(proxy, facts, view, error_logs, access_logs, logs_fpm)
