"""Find and read the nginx configuration: ``nginx -T``, a file, a dump file, or stdin.

Why ``nginx -T`` first: it prints the configuration exactly as the installed binary reads it,
every include resolved by nginx itself (``src/core/nginx.c``: ``-T`` = test + dump).  It needs to
open the files (and may need root to open the error log while testing), so when it fails we fall
back to reading ``/etc/nginx/nginx.conf`` ourselves and say why in ``config.problems``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from why502.errors import InputError
from why502.parsers.nginx_config import NginxConfig, ParseProblem, is_dump, parse_dump, parse_nginx

DEFAULT_CONF = "/etc/nginx/nginx.conf"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def find_nginx() -> str | None:
    """The nginx binary: on PATH, or in the usual sbin directories (not always on a user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    for cand in NGINX_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return None


def run_nginx_T(binary: str, timeout: float = 15.0) -> tuple[str | None, str]:
    """Run ``nginx -T``; return (dump or None, a one-line reason when it failed)."""
    try:
        proc = subprocess.run([binary, "-T"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{binary} -T failed: {err}"
    out = proc.stdout.decode("utf-8", errors="surrogateescape")
    if proc.returncode == 0 and is_dump(out):
        return out, ""
    err_lines = [ln for ln in proc.stderr.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    reason = err_lines[-1] if err_lines else f"exit status {proc.returncode}"
    if is_dump(out):  # nginx printed the files but the test failed (e.g. cannot open a log as non-root)
        return out, f"{binary} -T reported: {reason}"
    return None, f"{binary} -T failed: {reason}"


def load_config(nginx_conf: str | None) -> NginxConfig:
    """The config to analyse.

    - ``None``: ``nginx -T`` when an nginx binary is installed, else ``/etc/nginx/nginx.conf``;
    - ``"-"``: an ``nginx -T`` dump on stdin;
    - a path: a config file (includes followed) or a saved dump (detected by its markers).

    Raises ``InputError`` (exit 3) when nothing can be read.
    """
    if nginx_conf == "-":
        text = sys.stdin.read()
        if not is_dump(text):
            raise InputError("stdin is not an 'nginx -T' dump (no '# configuration file' marker)")
        return parse_dump(text, source="stdin")
    if nginx_conf is None:
        binary = find_nginx()
        notes: list[ParseProblem] = []
        if binary:
            dump, reason = run_nginx_T(binary)
            if dump is not None:
                cfg = parse_dump(dump, source="nginx -T")
                if reason:
                    cfg.problems.append(ParseProblem("warning", reason))
                return cfg
            notes.append(ParseProblem("warning", f"{reason}; reading {DEFAULT_CONF} instead"))
        cfg = _load_path(DEFAULT_CONF)
        return replace(cfg, problems=notes + cfg.problems)
    return _load_path(nginx_conf)


def _load_path(path: str) -> NginxConfig:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a directory (give the main nginx.conf)")
    try:
        return parse_nginx(path)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (OSError, ValueError, UnicodeError) as err:
        raise InputError(f"{path}: cannot read: {err}") from None
