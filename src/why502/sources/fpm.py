"""PHP-FPM pools and error log, read from disk (``--fpm-conf PATH`` or discovered).

Why: nginx's ``fastcgi_pass`` target must match a pool's ``listen``; the pool's
``listen.owner/group/mode``, ``pm.max_children`` and ``request_terminate_timeout`` explain
``permission-denied``, ``backlog-full``/``read-timeout`` and ``premature-close``; the FPM error log
holds ``server reached pm.max_children`` and ``execution timed out``.  Parsing is pure
(``why502.parsers.fpm_config``); this module finds the files, expands ``include=`` globs like
``fpm_conf_ini_parser_include()`` (``glob()``, at most 5 levels) and reports what it could not read.

``--fpm-conf`` accepts a ``php-fpm.conf``, a single pool file, or a directory (every ``*.conf``
in it).  Without it: ``/etc/php/*/fpm/php-fpm.conf`` (Debian/Ubuntu), then ``/etc/php-fpm.conf``
+ ``/etc/php-fpm.d/*.conf`` (RHEL), then ``/usr/local/etc/php-fpm.conf`` (source builds, the
official Docker image).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from why502.facts.fpm import FpmPool, debian_php_version
from why502.findings import Diagnostic
from why502.parsers.fpm_config import (
    FpmConfigModel,
    FpmLine,
    build_config,
    parse_fpm_text,
    resolve_fpm_path,
)
from why502.sources import procscan
from why502.sources.once import parsed
from why502.sources.opening import discovered_skip, read_small

__all__ = ["FpmConfig", "FpmPool", "discover_pools", "fpm_log_paths", "load_fpm_config"]

MAX_INCLUDE_DEPTH = 5  # fpm_conf_load_ini_file(): "failed to include more than 5 files recursively"
PHP_PREFIX = "/usr"  # Debian's PHP_PREFIX: relative include= paths
PHP_LOCALSTATEDIR = "/var"  # Debian's PHP_LOCALSTATEDIR: relative error_log/slowlog paths

DISCOVERY = (
    "/etc/php/*/fpm/php-fpm.conf",
    "/etc/php-fpm.conf",
    "/usr/local/etc/php-fpm.conf",
)


@dataclass
class FpmConfig:
    """Everything read about PHP-FPM: pools, the global settings, files, log path, diagnostics."""

    pools: list[FpmPool] = field(default_factory=list)
    model: FpmConfigModel = field(default_factory=FpmConfigModel)
    files: list[str] = field(default_factory=list)
    error_log: str | None = None  # resolved global error_log ("syslog" when logging to syslog)
    pid_file: str | None = None  # resolved global ``pid`` (the master's PID file), when set
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def master_pid(self) -> int | None:
        """The running master's PID from ``pid_file`` when it names a live process."""
        if not self.pid_file:
            return None
        try:
            pid = int(read_small(self.pid_file).strip())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None


# a pool file is a few KB; a bigger one is not a pool file (or is ``include=/dev/zero``)
MAX_CONF_BYTES = 4 << 20


def _read(path: str, diags: list[Diagnostic]) -> str | None:
    """The text of one PHP-FPM config file, or None with a warning: unreadable, not a regular
    file (a FIFO would block, a device never end) or bigger than ``MAX_CONF_BYTES``."""
    why = discovered_skip(path)
    if why is None and os.path.isfile(path) and os.path.getsize(path) > MAX_CONF_BYTES:
        why = f"{path} is over {MAX_CONF_BYTES >> 20} MiB, not a PHP-FPM config"
    if why is not None:
        diags.append(Diagnostic("warning", f"PHP-FPM config {why}", path))
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(MAX_CONF_BYTES)
    except OSError as err:
        diags.append(Diagnostic("warning", f"cannot read PHP-FPM config {path}: {err.strerror or err}", path))
        return None


def _expand(
    path: str, prefix: str | None, depth: int, out: list[FpmLine], files: list[str], diags: list[Diagnostic],
    seen: set[str] | None = None,
) -> None:
    """Read ``path`` and what it includes into ``out``.  ``seen`` (real paths) makes every file
    read once per load, however it is reached -- two ``--fpm-conf``, a pool directory given next
    to the php-fpm.conf that includes it, ``include=`` patterns that overlap, a symlink: each
    reading added the file's warnings again (one warning was shown 6 times) and its pools twice."""
    if seen is not None:
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
    if depth > MAX_INCLUDE_DEPTH:
        diags.append(
            Diagnostic(
                "warning",
                f"{path}: includes nested deeper than {MAX_INCLUDE_DEPTH}; PHP-FPM itself refuses this",
                path,
            )
        )
        return
    text = _read(path, diags)
    if text is None:
        return
    files.append(path)
    for ln in parse_fpm_text(text, path):
        if ln.kind != "include":
            out.append(ln)
            continue
        pattern = resolve_fpm_path(ln.value, prefix, PHP_PREFIX)
        matches = sorted(glob.glob(pattern))
        if not matches:
            diags.append(Diagnostic("info", f"{path}:{ln.line}: include={ln.value} matches no file", path))
        for inc in matches:
            _expand(inc, prefix, depth + 1, out, files, diags, seen)


def _discover() -> list[str]:
    found: list[str] = []
    for pattern in DISCOVERY:
        found.extend(sorted(glob.glob(pattern)))
    return found + [c for c in running_configs() if c not in found]


# The title a PHP-FPM master gives itself: php-src sapi/fpm/fpm/fpm_env.c fpm_env_init_main(),
# ``spprintf(&title, 0, "master process (%s)", fpm_globals.config)``, the config it was started
# with (``-y``/``--fpm-config``, or its compiled-in default), as ``ps`` shows it ("php-fpm:
# master process (/etc/php/8.2/fpm/php-fpm.conf)").
_MASTER_TITLE = re.compile(r"php-fpm[\w.-]*: master process \((/[^)]+)\)")
PROC = "/proc"


def running_configs(proc: str | None = None) -> list[str]:
    """The configs the PHP-FPM masters running now were started with (their process title).

    Why: a PHP-FPM started with ``-y`` on a config outside the usual places (a container's
    ``/usr/local/etc``, a second PHP in ``/opt``, a service's own dir) is the one serving the
    proxy's FastCGI target, and its pools' ``listen`` say where PHP really listens (the
    catalog's wrong-target: "the PHP-FPM pool's listen differs").  ``WHY502_PROC_PIDS`` limits
    the scan as it does for the proxies and app servers (``sources.proxyprocs``): a process or
    its parent must be listed."""
    proc = proc or PROC
    out: list[str] = []
    for pid in procscan.pids(proc):
        raw = procscan.cmdline(pid, proc, 4096)
        if raw is None:
            continue
        m = _MASTER_TITLE.match(raw.split(b"\0")[0].decode("utf-8", "replace"))
        if m is None or m.group(1) in out or not os.path.isfile(m.group(1)):
            continue
        out.append(m.group(1))
    return out


def load_fpm_config(fpm_conf: str | Sequence[str] | None = None, prefix: str | None = None) -> FpmConfig:
    """Read PHP-FPM config from ``fpm_conf`` (a file or directory, or several) or the usual places.

    ``prefix`` is FPM's ``--prefix`` (``-p``) when the service uses one.  Several discovered
    ``php-fpm.conf`` (several PHP versions) are read one after the other; every file is read
    once however many of them reach it (``_expand``).  One config file is parsed once per run
    (``sources.once``).
    """
    if isinstance(fpm_conf, str) and os.path.isfile(fpm_conf):
        path = fpm_conf
        return parsed("php-fpm", path, lambda: _load_fpm_config(path, prefix),
                      files=lambda cfg: cfg.files, variant=prefix)
    return _load_fpm_config(fpm_conf, prefix)


def _load_fpm_config(fpm_conf: str | Sequence[str] | None, prefix: str | None) -> FpmConfig:
    result = FpmConfig()
    given = [fpm_conf] if isinstance(fpm_conf, str) else list(fpm_conf or [])
    if given:
        roots = []
        for conf in given:
            if os.path.isdir(conf):
                found = sorted(glob.glob(os.path.join(conf, "*.conf")))
                if not found:
                    result.diagnostics.append(
                        Diagnostic("warning", f"{conf}: no *.conf file in this directory", conf)
                    )
                roots += found
            elif os.path.exists(conf):
                roots.append(conf)
            else:
                result.diagnostics.append(
                    Diagnostic("error", f"PHP-FPM config {conf} does not exist", conf)
                )
                return result
    else:
        roots = _discover()
        if not roots:
            result.diagnostics.append(
                Diagnostic(
                    "info",
                    "no PHP-FPM config found (looked for "
                    + ", ".join(DISCOVERY)
                    + "); pass --fpm-conf PATH if PHP-FPM is used",
                )
            )
            return result
    all_pools: list[FpmPool] = []
    seen: set[str] = set()
    for root in roots:
        lines: list[FpmLine] = []
        _expand(root, prefix, 0, lines, result.files, result.diagnostics, seen)
        if not lines:
            continue  # read already (reached from another root), or unreadable: said once
        first = build_config(lines)
        raw_log = first.global_settings.get("error_log")
        if raw_log is not None:
            error_log: str | None = resolve_fpm_path(raw_log.value, prefix, PHP_LOCALSTATEDIR)
        elif any(ln.kind == "section" and ln.name.lower() == "global" for ln in lines):
            error_log = resolve_fpm_path("log/php-fpm.log", prefix, PHP_LOCALSTATEDIR)
        else:
            error_log = None  # a lone pool file: the global section lives elsewhere
        model = build_config(lines, error_log)
        for file, line, message in model.errors:
            result.diagnostics.append(Diagnostic("warning", f"{file}:{line}: {message}", file))
        if error_log and result.error_log is None:
            result.error_log = error_log
        raw_pid = model.global_settings.get("pid")
        if raw_pid is not None and result.pid_file is None:
            result.pid_file = resolve_fpm_path(raw_pid.value, prefix, PHP_LOCALSTATEDIR)
        result.model.global_settings.update(model.global_settings)
        result.model.errors.extend(model.errors)
        all_pools.extend(model.pools)
    result.pools = all_pools
    result.model.pools = all_pools
    if not all_pools and result.files:
        result.diagnostics.append(
            Diagnostic("warning", "PHP-FPM config read, but it defines no pool: " + ", ".join(result.files))
        )
    return result


def discover_pools(fpm_conf: str | None = None, prefix: str | None = None) -> list[FpmPool]:
    """The pools only (``load_fpm_config`` also returns diagnostics and the error log path)."""
    return load_fpm_config(fpm_conf, prefix).pools


def fpm_log_paths(fpm_log: str | None = None, config: FpmConfig | None = None) -> list[str]:
    """Where the FPM error log is: ``--fpm-log``, else the config's ``error_log``, else Debian's.

    Returns existing files first; ``syslog`` means the journal (``journalctl -u php*-fpm``) and is
    not a path, so it is left out.
    """
    if fpm_log:
        return [fpm_log]
    candidates: list[str] = []
    if config is not None and config.error_log and config.error_log != "syslog":
        candidates.append(config.error_log)
    versions = sorted(
        {
            version
            for f in (config.files if config else [])
            if (version := debian_php_version(f))
        }
    ) or sorted(Path(p).parts[3] for p in glob.glob("/etc/php/*/fpm") if len(Path(p).parts) > 3)
    for version in versions:
        candidates.append(f"/var/log/php{version}-fpm.log")
    candidates.append("/var/log/php-fpm.log")
    seen: list[str] = []
    for c in candidates:
        if c not in seen:
            seen.append(c)
    return [c for c in seen if os.path.exists(c)] + [c for c in seen if not os.path.exists(c)][:1]
