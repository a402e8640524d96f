"""Find and read Caddy: its config (a Caddyfile through the real ``caddy adapt``, a JSON config,
or a saved admin ``GET /config/`` answer) and the live state of its upstreams over the admin API.

``caddy adapt --config FILE --adapter caddyfile`` prints the JSON Caddy would run
(https://caddyserver.com/docs/command-line#caddy-adapt); it is run with a timeout and reads
nothing but the file and its imports.  The admin API (``admin`` in the config, default
``localhost:2019``) is asked ``GET /reverse_proxy/upstreams`` only -- each upstream's
``address``, ``num_requests`` and ``fails`` (modules/caddyhttp/reverseproxy/admin.go) -- on a
loopback address only, within a deadline and a byte bound (``sources.netread``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from why502.errors import InputError
from why502.parsers.configread import ConfigBudget
from why502.proxies.caddy.config import CaddyConfig, from_json, join_lines, json_lines
from why502.proxies.caddy.detect import looks_like_json
from why502.proxies.caddy.proxy import PROXY
from why502.proxies.process import absolute, option
from why502.sources.netread import Bounds, fetch, parse_json
from why502.sources.once import parsed
from why502.sources.opening import read_small

DEFAULT_CONF = "/etc/caddy/Caddyfile"
ADAPT_SECONDS = 15.0
ADMIN_BYTES = 1 << 20


def find_caddy() -> str | None:
    return shutil.which(PROXY.detection.programs[0])


def adapt(path: str, timeout: float = ADAPT_SECONDS) -> tuple[object, list[str]]:
    """``caddy adapt``'s JSON for the Caddyfile ``path`` and its warnings; ``InputError`` with
    Caddy's own message when it cannot adapt it."""
    binary = find_caddy()
    if binary is None:
        raise InputError(f"{path}: caddy is not installed to adapt this Caddyfile: pass its JSON "
                         "(caddy adapt --config FILE > caddy.json) or a saved admin /config/ answer")
    try:
        proc = subprocess.run([binary, "adapt", "--config", path, "--adapter", "caddyfile"],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "HOME": os.environ.get("HOME", "/nonexistent")})
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"{path}: caddy adapt failed: {err}") from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["exit status " + str(proc.returncode)])[-1]
        raise InputError(f"{path}: caddy adapt: {why[:400]}")
    try:
        doc = json.loads(proc.stdout)
    except ValueError as err:
        raise InputError(f"{path}: caddy adapt printed no JSON: {err}") from None
    warnings = [ln for ln in proc.stderr.splitlines() if '"level":"warn"' in ln or "WARN" in ln]
    return doc, warnings


def caddy_config(path: str) -> CaddyConfig:
    """The config at ``path``: JSON read directly, a Caddyfile through ``caddy adapt``; the text
    read once under the config byte bound (``parsers.configread``)."""
    text = ConfigBudget().read(path)
    if looks_like_json(text):
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise InputError(f"{path}: not a readable Caddy JSON config: {err}") from None
        cfg = from_json(doc, path, "json", {path: text})
        json_lines(cfg, text, path)
        return cfg
    doc, warnings = adapt(path)
    cfg = from_json(doc, path, "caddyfile", {path: text})
    join_lines(cfg, text, path)
    cfg.problems += [w[:300] for w in warnings]
    return cfg


def load_config(path: str | None) -> CaddyConfig:
    """The config named (``--config``), else Debian's ``/etc/caddy/Caddyfile``; parsed once per
    run (``sources.once``)."""
    path = path or DEFAULT_CONF
    return parsed(PROXY.name, path, lambda: caddy_config(path))


@dataclass(frozen=True)
class UpstreamState:
    address: str
    num_requests: int
    fails: int


def _loopback_url(admin: str) -> str | None:
    host, _, port = admin.rpartition(":")
    host = host.strip("[]") or "localhost"
    if not port.isdigit():
        return None
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    else:
        host = "127.0.0.1"
    return f"http://{host if ':' not in host else '[' + host + ']'}:{port}/reverse_proxy/upstreams"


def upstream_states(cfg: CaddyConfig, timeout: float = 2.0) -> tuple[list[UpstreamState], list[str]]:
    """The admin API's ``/reverse_proxy/upstreams`` (empty with a note when the admin endpoint
    is off, not on loopback, or does not answer)."""
    if cfg.admin is None:
        return [], ["Caddy's admin API is off ('admin off'): live upstream state not read"]
    url = _loopback_url(cfg.admin)
    if url is None:
        return [], [f"Caddy's admin API {cfg.admin} is not a loopback TCP address: not asked"]
    bounds = Bounds(max_bytes=ADMIN_BYTES, max_depth=8, seconds=timeout)
    try:
        answer = fetch(url, bounds, what=f"Caddy admin API {url}", proxies=False,
                       follow_redirects=False)
        if answer.status != 200:
            return [], [f"Caddy admin API {url}: HTTP {answer.status}"]
        rows = parse_json(answer.body, bounds, url)
    except InputError as err:
        return [], [str(err)]
    out = [UpstreamState(str(r.get("address")), int(r.get("num_requests") or 0), int(r.get("fails") or 0))
           for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    return out, []


# ``output file PATH`` in a Caddyfile ``log`` block (https://caddyserver.com/docs/caddyfile/directives/log)
_OUTPUT = re.compile(r"^[ \t]*output[ \t]+file[ \t]+(\"[^\"]+\"|\S+)", re.M)
RUN_DEFAULT_CONFIG = "Caddyfile"  # `caddy run` with no --config reads ./Caddyfile (caddy run --help)


def config_logs(config: str, cwd: str | None) -> tuple[str, ...]:
    """The access logs a Caddy config writes: ``output file`` lines of a Caddyfile, or every
    ``"filename"`` of a file writer in a JSON config (``logging.logs.*.writer``); a relative
    path is the running server's, under its working directory ``cwd``."""
    try:
        text = read_small(config, 1 << 20)
    except (OSError, UnicodeDecodeError):
        return ()
    try:  # a JSON config (a Caddyfile may start with "{" too: its global options block)
        data = json.loads(text)
    except ValueError:
        data = None
    if data is not None:
        logs = data.get("logging", {}).get("logs", {}) if isinstance(data, dict) else {}
        names = [w.get("filename") for v in (logs.values() if isinstance(logs, dict) else [])
                 if isinstance(v, dict) and isinstance(w := v.get("writer"), dict)]
        return tuple(absolute(n, cwd) for n in names if isinstance(n, str) and n)
    return tuple(dict.fromkeys(absolute(m.strip('"'), cwd) for m in _OUTPUT.findall(text)))


def edge_run(argv: list[str], cwd: str | None) -> tuple[str, tuple[str, ...]] | None:
    """A running ``caddy run`` (``caddy start`` runs one): the config its command line names
    (``--config FILE`` or ``--config=FILE``, else ``./Caddyfile``) and the access logs that config
    writes (``Hooks.edge_run``, read by ``sources.proxyprocs.running_edges``); None for any other
    ``caddy`` process (``caddy reload``, ``caddy validate``): it serves nothing."""
    if "run" not in argv[1:2]:
        return None
    conf = (option(argv, "--config") or [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
            or [RUN_DEFAULT_CONFIG])
    config = absolute(conf[-1], cwd)
    return config, config_logs(config, cwd)
