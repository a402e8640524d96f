"""Find and read the nginx configuration: ``nginx -T``, a file, a dump file, or stdin.

Why ``nginx -T`` first: it prints the configuration exactly as the installed binary reads it,
every include resolved by nginx itself (``src/core/nginx.c``: ``-T`` = test + dump).  It needs to
open the files (and may need root to open the error log while testing), so when it fails we fall
back to reading ``/etc/nginx/nginx.conf`` ourselves and say why in ``config.problems``.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from why502.errors import InputError, UsageError, not_found
from why502.proxies.nginx.config import NginxConfig, ParseProblem, is_dump, parse_dump, parse_nginx
from why502.proxies.nginx.config.load import config_file_problem, max_config_bytes, mib, over_bound
from why502.proxies.nginx.proxy import PROXY
from why502.sources.once import parsed
from why502.sources.opening import is_stream, open_capped_input
from why502.textutil import strip_terminal_escapes

if TYPE_CHECKING:  # lint's types: lint_config and host_facts only, not diagnose's read (issue 28)
    from why502.findings.lint import LintHostFacts, LintRead

DEFAULT_CONF = "/etc/nginx/nginx.conf"
NGINX_CANDIDATES = PROXY.detection.sbin  # its declared sbin paths (proxies.installed_binary)


def find_nginx() -> str | None:
    """The nginx binary: on PATH, or in the usual sbin directories (not always on a user's PATH)."""
    found = shutil.which(PROXY.detection.programs[0])
    if found:
        return found
    for cand in NGINX_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return None


def run_nginx_T(binary: str, timeout: float = 15.0) -> tuple[str | None, str]:
    """Run ``nginx -T``; return (dump or None, a one-line reason when it failed).

    The dump is read with the config cap (``max_config_bytes``): ``-T`` prints every file the
    config includes, so ``include /dev/zero;``-like configs or a runaway generated include would
    otherwise be read whole into memory.  Past the cap nginx is stopped and the dump refused.
    stderr is kept to its last 64 KiB (only its last line is shown)."""
    cap = max_config_bytes()
    try:
        proc = subprocess.Popen([binary, "-T"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as err:
        return None, f"{binary} -T failed: {err}"
    err_tail = bytearray()

    def drain_stderr() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(65536):
            err_tail.extend(chunk)
            del err_tail[:-65536]

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    timed_out: list[bool] = []

    def expire() -> None:
        timed_out.append(True)
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert proc.stdout is not None
        raw = proc.stdout.read(cap + 1)
        over = len(raw) > cap
        if over:
            proc.kill()
        proc.wait()
        reader.join(5)
    finally:
        timer.cancel()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if over:
        return None, f"{binary} -T printed more than {mib(cap)}: {over_bound(None)}"
    if timed_out:
        return None, f"{binary} -T failed: timed out after {timeout:g} seconds"
    out = raw.decode("utf-8", errors="surrogateescape")
    if proc.returncode == 0 and is_dump(out):
        return out, ""
    err_lines = [ln for ln in err_tail.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    reason = err_lines[-1] if err_lines else f"exit status {proc.returncode}"
    if is_dump(out):  # nginx printed the files but the test failed (e.g. cannot open a log as non-root)
        return out, f"{binary} -T reported: {reason}"
    return None, f"{binary} -T failed: {reason}"


def load_config(nginx_conf: str | None, *, run_nginx: bool = True, host_paths: bool = True,
                root: str | None = None) -> NginxConfig:
    """The config to analyse.

    - ``None``: ``nginx -T`` when an nginx binary is installed (and ``run_nginx``), else
      ``/etc/nginx/nginx.conf``.  ``run_nginx=False`` is ``--offline``: no process is started,
      as ``nginx -T`` run as root creates the error log, the pid file's directory and the temp
      directories it names (ngx_init_cycle: the test opens every log and creates the paths);
    - ``"-"``: an ``nginx -T`` dump on stdin;
    - a path: a config file (includes followed) or a saved dump (detected by its markers);
      ``host_paths=False`` reads none of its absolute includes (``lint`` of a config that may
      come from another machine: ``proxies.nginx.config.load.parse_nginx``); ``root`` resolves its
      absolute includes under that directory, as ``lint --root DIR`` does (``/proc/PID/root`` of
      an nginx running in a container: its files, not this host's of the same name).

    Raises ``InputError`` (exit 3) when nothing can be read.
    """
    if nginx_conf == "-":
        raw = open_capped_input("-", max_config_bytes(), "a config (WHY502_MAX_CONFIG_BYTES allows more)")
        text = raw.decode("utf-8", errors="surrogateescape")
        if not is_dump(text):
            raise InputError("stdin is not an 'nginx -T' dump (no '# configuration file' marker)")
        return parse_dump(text, source="stdin")
    if nginx_conf is None:
        binary = find_nginx() if run_nginx else None
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
    return _load_path(nginx_conf, host_paths, root)


def _load_path(path: str, host_paths: bool = True, root: str | None = None) -> NginxConfig:
    p = Path(path)
    if not p.exists():
        raise InputError(not_found(path))
    if p.is_dir():
        raise InputError(f"{path}: is a directory (give the main nginx.conf)")
    text = None
    if is_stream(path):  # --nginx-conf <(ssh host nginx -T): read once, with bounds; /dev/zero: no
        text = open_capped_input(path, max_config_bytes(), "a config (WHY502_MAX_CONFIG_BYTES allows more)"
                                 ).decode("utf-8", "surrogateescape")
    elif why := config_file_problem(path):
        raise InputError(why)
    try:
        if text is not None:
            return parse_nginx(path, text=text, host_paths=host_paths)
        return nginx_config(path, root=root, host_paths=host_paths)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (OSError, ValueError, UnicodeError) as err:
        raise InputError(f"{path}: cannot read: {err}") from None


def nginx_config(path: str, *, root: str | None = None, host_paths: bool = True) -> NginxConfig:
    """``proxies.nginx.config.parse_nginx`` of a config file, once per run (``sources.once``): every
    part of a command that asks the same file gets the same parse."""
    return parsed(__name__, path, lambda: parse_nginx(path, root=root, host_paths=host_paths),
                  files=lambda cfg: cfg.files, variant=(root, host_paths))


def _nginx_pid(cfg: NginxConfig) -> int | None:
    pid_dirs = cfg.main.get("pid")
    candidates = [pid_dirs[-1].args[0]] if pid_dirs and pid_dirs[-1].args else []
    candidates += ["/run/nginx.pid", "/var/run/nginx.pid"]
    for path in candidates:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def host_facts(cfg: NginxConfig, proc: str = "/proc") -> LintHostFacts:
    """somaxconn, MemTotal, the nginx master's open-files limit, the worker user's groups."""
    from why502.findings.lint import LintHostFacts
    from why502.sources.accounts import worker_identity
    from why502.sources.system import read_net_limits, read_process_limits

    facts = LintHostFacts()
    facts.somaxconn = read_net_limits(proc).somaxconn
    try:
        for line in Path(proc, "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                facts.mem_total = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        facts.notes.append(f"cannot read {proc}/meminfo")
    pid = _nginx_pid(cfg)
    if pid is not None:
        limit = read_process_limits(pid, proc).max_open_files
        soft = getattr(limit, "soft", None) if limit is not None else None
        if isinstance(soft, int):
            facts.nofile = soft
    user = f"{cfg.user} {cfg.group}" if cfg.user and cfg.group else cfg.user
    ident, _diags = worker_identity(user, PROXY.name)
    if ident is not None:
        names = []
        for gid in ident.gids:
            try:
                names.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue
        facts.groups = tuple(names)
    return facts


def lint_config(path: str | None, *, root: str | None, host: bool) -> LintRead:
    """``Hooks.lint_config``: the config ``lint`` reads, as this host's nginx reads it.

    No ``path``: this host's (``nginx -T``, else /etc/nginx/nginx.conf); ``-``: an ``nginx -T``
    dump on stdin; ``root``: a tree copied from a container (``/proc/PID/root``), its absolute
    includes read under it.  A named config is read alone unless ``host``: its absolute
    includes name files of the machine it is for, which this one may not be (issue 26).  With
    ``host``, this host's limits and the worker user's groups (:func:`host_facts`)."""
    from why502.findings.lint import LintNote, LintRead

    if root is not None:
        if not path:
            raise UsageError("--root needs NGINX_CONF")
        try:
            cfg = nginx_config(path, root=root)
        except OSError as err:
            raise InputError(f"{path}: {err.strerror or err}") from None
    else:
        cfg = load_config(path, host_paths=path is None or host)
    errors = [p for p in cfg.problems if p.severity == "error"]
    if not cfg.main.directives and errors:
        where = f"{errors[0].file}:{errors[0].line}" if errors[0].line else (errors[0].file or cfg.main_file)
        msg = strip_terminal_escapes(f"{where}: not a readable nginx config: {errors[0].message}")
        raise InputError(msg.splitlines()[0] if msg else "not a readable nginx config")
    notes = [LintNote(p.severity, p.message, p.file, p.line, unread=p.unread) for p in cfg.problems]
    return LintRead(cfg, notes, cfg.source, host_facts(cfg) if host else None)
