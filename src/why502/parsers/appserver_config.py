"""App servers' settings, read as text: command lines and config files, never executed.

- gunicorn: ``gunicorn.conf.py`` is Python, but it is **parsed** (``ast``), never run: a
  top-level ``name = literal`` is a setting (the names of gunicorn/config.py's ``Setting``
  classes); anything computed (``multiprocessing.cpu_count() * 2``) is kept as its source text.
  The command line overrides the file, as gunicorn does ("settings from the command line
  override the configuration file", docs/source/configure.rst).
- uvicorn: only its command line (``--timeout-keep-alive``, ``--limit-concurrency``,
  ``--backlog``, ``--host``/``--port``/``--uds``; uvicorn/main.py).
- uWSGI: the ``[uwsgi]`` section of an ini file and ``--key value`` on the command line
  (core/uwsgi.c's option table; ``_`` and ``-`` are the same in a key).
- Puma: ``config/puma.rb`` lines ``worker_timeout N``, ``persistent_timeout N``, ``threads a, b``,
  ``workers N``, ``bind 'tcp://...'``, ``port N`` (lib/puma/dsl.rb) and ``-b/-p/-t/-w/-C``.
- Node: the server's script, searched for ``keepAliveTimeout = N`` / ``headersTimeout = N`` and
  ``.listen(PORT[, HOST])`` (doc/api/http.md).

Every setting keeps where it was set (file and line, or ``/proc/PID/cmdline``) so a finding can
show the line and a fix can name it.
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from why502.facts.appserver import AppServer
from why502.facts.net import hostport
from why502.facts.setting import Setting

MAX_CONF_BYTES = 1 << 20  # a config file or script bigger than 1 MiB is not read

# gunicorn: command-line flag -> setting name (gunicorn/config.py ``cli = [...]``)
_GUNICORN_FLAGS = {
    "-t": "timeout", "--timeout": "timeout", "--graceful-timeout": "graceful_timeout",
    "--keep-alive": "keepalive", "-w": "workers", "--workers": "workers",
    "--backlog": "backlog", "--max-requests": "max_requests", "-b": "bind", "--bind": "bind",
    "--forwarded-allow-ips": "forwarded_allow_ips", "-k": "worker_class",
    "--worker-class": "worker_class", "--threads": "threads", "-c": "config", "--config": "config",
    "--error-logfile": "errorlog", "--log-file": "errorlog", "--access-logfile": "accesslog",
}
_UVICORN_FLAGS = {
    "--host": "host", "--port": "port", "--uds": "uds", "--timeout-keep-alive": "timeout-keep-alive",
    "--limit-concurrency": "limit-concurrency", "--backlog": "backlog", "--workers": "workers",
    "--log-config": "log-config",
}
# uWSGI one-letter options (core/uwsgi.c: {"socket", ..., 's'}, {"processes", ..., 'p'}, ...)
_UWSGI_SHORT = {"-s": "socket", "-p": "processes", "-l": "listen", "-t": "harakiri",
                "-b": "buffer-size", "-R": "max-requests", "-M": "master"}
_UWSGI_ALIASES = {"workers": "processes", "uwsgi-socket": "socket", "log-to": "logto"}
_PUMA_FLAGS = {"-b": "bind", "--bind": "bind", "-p": "port", "--port": "port", "-t": "threads",
               "--threads": "threads", "-w": "workers", "--workers": "workers", "-C": "config",
               "--config": "config"}


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONF_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CONF_BYTES:
        return None
    return data.decode("utf-8", "replace")


def _numbered(path: Path) -> list[tuple[int, str]]:
    """The file's lines numbered from 1 (none when it cannot be read or is too big)."""
    text = _read(path)
    return list(enumerate(text.splitlines(), 1)) if text is not None else []


def kind_of_argv(argv: Sequence[str]) -> str | None:
    """Which app server a command line runs (``python3 -m gunicorn``, ``/srv/venv/bin/uvicorn``,
    ``uwsgi --ini``, ``puma 6.4.0 (tcp://...)``, ``node server.js``), or None."""
    words = [Path(a).name for a in argv[:4]]
    if "-m" in argv[:3]:
        mod = argv[argv.index("-m") + 1] if argv.index("-m") + 1 < len(argv) else ""
        words.append(mod.split(".")[0])
    for word in words:
        w = word.lower()
        for kind in ("gunicorn", "uvicorn", "uwsgi", "puma"):
            if w == kind or w.startswith(f"{kind}:") or w.startswith(f"{kind}_") or w.startswith(f"{kind} "):
                return kind
        if w in ("node", "nodejs") or w.startswith("node "):
            return "node"
    # gunicorn's master retitles itself "gunicorn: master [app:app]" (setproctitle)
    if argv and argv[0].startswith(("gunicorn: master", "puma ")):
        return argv[0].split(":")[0].split()[0]
    return None


def _bind_key(text: str) -> str | None:
    """gunicorn/uWSGI/Puma bind text as an identity key: ``unix:/p``, ``127.0.0.1:8000``,
    ``:8000`` / ``0.0.0.0:8000`` (every address), ``tcp://127.0.0.1:9292``."""
    t = text.strip().strip("'\"")
    if not t:
        return None
    for prefix in ("tcp://", "http://", "ssl://"):
        if t.startswith(prefix):
            t = t[len(prefix):].split("?")[0]
    if t.startswith("unix://"):
        return "unix:" + t[7:].split("?")[0]
    if t.startswith("unix:"):
        return t
    if t.startswith("/") or t.startswith("@"):
        return f"unix:{t}"
    host, sep, port = t.rpartition(":")
    if not sep:
        return f"0.0.0.0:{t}" if t.isdigit() else f"{t}:8000"
    if not port.isdigit():
        return None
    return hostport(host.strip("[]") or "0.0.0.0", int(port))  # noqa: S104 - ":8000" binds all


def bind_key(text: str) -> str | None:
    """A bind as an app server writes it (config, flag or its own start-up line) as an
    identity key (see ``_bind_key``)."""
    return _bind_key(text)


def _flag_pairs(argv: Sequence[str], flags: dict[str, str]) -> list[tuple[str, str]]:
    """``--flag value`` and ``--flag=value`` pairs whose flag is in ``flags``."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if eq and name in flags:
            out.append((flags[name], value))
        elif arg in flags and i + 1 < len(argv):
            out.append((flags[arg], argv[i + 1]))
            i += 1
        elif len(arg) > 2 and arg[:2] in flags and not arg.startswith("--"):
            out.append((flags[arg[:2]], arg[2:]))  # -t90, -b127.0.0.1:8000
        i += 1
    return out


def gunicorn_conf(path: Path) -> tuple[dict[str, Setting], list[str]]:
    """Top-level assignments of a ``gunicorn.conf.py``, parsed, not run; and the binds."""
    text = _read(path)
    if text is None:
        return {}, []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}, []
    settings: dict[str, Setting] = {}
    binds: list[str] = []
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            literal = ast.get_source_segment(text, value) or "?"
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if target.id == "bind":
                items = literal if isinstance(literal, (list, tuple)) else [literal]
                binds = [k for b in items if isinstance(b, str) and (k := _bind_key(b))]
            shown = ",".join(map(str, literal)) if isinstance(literal, (list, tuple)) else str(literal)
            settings[target.id] = Setting(shown, file=str(path), line=node.lineno)
    return settings, binds


def from_argv(argv: Sequence[str], *, origin: str, cwd: Path | None = None,
              pid: int | None = None, started: str | None = None,
              root: Path = Path("/")) -> AppServer | None:
    """The app server a command line runs, with the settings its flags and config file set."""
    kind = kind_of_argv(argv)
    if kind is None:
        return None
    where = f"/proc/{pid}/cmdline" if pid else origin
    settings: dict[str, Setting] = {}
    binds: list[str] = []
    logs: list[str] = []

    def resolve(p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else (cwd or Path(".")) / q

    if kind == "gunicorn":
        pairs = _flag_pairs(argv, _GUNICORN_FLAGS)
        conf = next((v for k, v in pairs if k == "config"), None)
        path = resolve(conf) if conf else (cwd / "gunicorn.conf.py" if cwd else None)
        if path is not None and path.is_file():
            settings, binds = gunicorn_conf(path)
        cli_binds = [b for k, v in pairs if k == "bind" and (b := _bind_key(v))]
        for k, v in pairs:
            if k not in ("config", "bind"):
                settings[k] = Setting(v, file=where)
        binds = cli_binds or binds or ["127.0.0.1:8000"]
        logs = [v for k, v in pairs if k == "errorlog" and v != "-"]
        errorlog = settings.get("errorlog")
        if errorlog and errorlog.value not in ("-", "") and not logs:
            logs = [errorlog.value]
    elif kind == "uvicorn":
        pairs = _flag_pairs(argv, _UVICORN_FLAGS)
        for k, v in pairs:
            settings[k] = Setting(v, file=where)
        uds = settings.get("uds")
        if uds:
            binds = [f"unix:{uds.value}"]
        else:
            host = settings["host"].value if "host" in settings else "127.0.0.1"
            port = settings["port"].value if "port" in settings else "8000"
            binds = [hostport(host, int(port))] if port.isdigit() else []
    elif kind == "uwsgi":
        for arg in argv[1:]:
            if arg.endswith(".ini") and not arg.startswith("-"):
                path = resolve(arg)
                more, mb, ml = uwsgi_ini(path)
                settings.update(more)
                binds += mb
                logs += ml
        pairs = _flag_pairs(argv, {**_UWSGI_SHORT, **{f"--{k}": k for k in _UWSGI_LONG}})
        for k, v in pairs:
            if k == "ini":
                more, mb, ml = uwsgi_ini(resolve(v))
                settings.update(more)
                binds += mb
                logs += ml
                continue
            key = _UWSGI_ALIASES.get(k, k)
            settings[key] = Setting(v, file=where)
            if key in ("socket", "http-socket", "http11-socket", "http") and (b := _bind_key(v)):
                binds.append(b)
            if key in ("logto", "daemonize"):
                logs.append(v)
    elif kind == "puma":
        pairs = _flag_pairs(argv, _PUMA_FLAGS)
        conf = next((v for k, v in pairs if k == "config"), None)
        path = resolve(conf) if conf else (cwd / "config" / "puma.rb" if cwd else None)
        if path is not None and path.is_file():
            settings, binds, logs = puma_rb(path)
        for k, v in pairs:
            if k == "bind" and (b := _bind_key(v)):
                binds.append(b)
            elif k == "port" and v.isdigit():
                binds.append(f"0.0.0.0:{v}")
            elif k != "config":
                settings[k] = Setting(v, file=where)
        # puma's master retitles itself "puma 6.4.0 (tcp://0.0.0.0:9292) [app]"
        binds += [b for m in re.finditer(r"\((\w+://[^)\s]+)\)", " ".join(argv[:2]))
                  if (b := _bind_key(m.group(1)))]
        binds = binds or ["0.0.0.0:9292"]
    elif kind == "node":
        script = next((a for a in argv[1:] if not a.startswith("-") and a.endswith((".js", ".mjs", ".cjs"))),
                      None)
        if script:
            settings, binds = node_script(resolve(script))
    return AppServer(kind=kind, binds=tuple(dict.fromkeys(binds)), settings=settings, pid=pid,
                     origin=origin, logs=tuple(dict.fromkeys(logs)), started=started)


_UWSGI_LONG = ("socket", "http-socket", "http11-socket", "uwsgi-socket", "http", "processes", "workers",
               "listen",
               "harakiri", "buffer-size", "max-requests", "threads", "logto", "daemonize", "ini",
               "master")


def uwsgi_ini(path: Path) -> tuple[dict[str, Setting], list[str], list[str]]:
    """The ``[uwsgi]`` section of an ini file: settings (with their lines), binds, log files."""
    settings: dict[str, Setting] = {}
    binds: list[str] = []
    logs: list[str] = []
    section = None
    for n, raw in _numbered(path):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section != "uwsgi" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().replace("_", "-").lower()
        key = _UWSGI_ALIASES.get(key, key)
        value = value.split(" ;")[0].strip()
        settings[key] = Setting(value, file=str(path), line=n)
        if key in ("socket", "http-socket", "http11-socket", "http") and (b := _bind_key(value)):
            binds.append(b)
        if key in ("logto", "daemonize"):
            logs.append(value)
    return settings, binds, logs


def parse_ini_text_ok(text: str) -> bool:
    """Is ``text`` an ini with a ``[uwsgi]`` section (to tell ``--app-conf`` files apart)?"""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return "[uwsgi]" in text
    return parser.has_section("uwsgi")


_PUMA_LINE = re.compile(r"^\s*(worker_timeout|persistent_timeout|workers|threads|bind|port|"
                        r"stdout_redirect|first_data_timeout|worker_boot_timeout)\b[\s(]*(.*?)\)?\s*(?:#.*)?$")


def puma_rb(path: Path) -> tuple[dict[str, Setting], list[str], list[str]]:
    """``config/puma.rb``'s literal DSL lines (lib/puma/dsl.rb), never run."""
    settings: dict[str, Setting] = {}
    binds: list[str] = []
    logs: list[str] = []
    for n, raw in _numbered(path):
        m = _PUMA_LINE.match(raw)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        env_default = re.search(r"ENV\.fetch\([^,]+,\s*([^)]+)\)", value)
        if env_default:  # workers ENV.fetch("WEB_CONCURRENCY") { 2 } / ENV.fetch("X", 5)
            value = env_default.group(1).strip()
        block = re.search(r"\{\s*(\S+)\s*\}", value)
        if block:
            value = block.group(1)
        value = value.strip().strip("'\"")
        settings[key] = Setting(value, file=str(path), line=n)
        if key == "bind" and (b := _bind_key(value)):
            binds.append(b)
        elif key == "port":
            port = value.split(",")[0].strip().strip("'\"")
            if port.isdigit():
                binds.append(f"0.0.0.0:{port}")
        elif key == "stdout_redirect":
            logs += [p.strip().strip("'\"") for p in value.split(",")[:2] if p.strip()]
    return settings, binds, logs


_NODE_TIMEOUT = re.compile(r"\b(keepAliveTimeout|headersTimeout|requestTimeout)\s*[=:]\s*([\d_ *]+)")
_NODE_LISTEN = re.compile(r"\.listen\(\s*(\d+)(?:\s*,\s*['\"]([^'\"]+)['\"])?")


def node_script(path: Path) -> tuple[dict[str, Setting], list[str]]:
    """A Node server's script: its literal timeouts (ms) and ``.listen(PORT, HOST)``."""
    text = _read(path)
    if text is None:
        return {}, []
    settings: dict[str, Setting] = {}
    binds: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        for m in _NODE_TIMEOUT.finditer(raw):
            value = _product(m.group(2))
            if value is not None:
                settings[m.group(1)] = Setting(str(value), file=str(path), line=n)
        for m in _NODE_LISTEN.finditer(raw):
            binds.append(hostport(m.group(2) or "::", int(m.group(1))))
    return settings, binds


def _product(text: str) -> int | None:
    """``75_000`` or ``75 * 1000`` as an integer; None for anything else."""
    try:
        out = 1
        for part in text.replace("_", "").split("*"):
            out *= int(part.strip())
        return out
    except ValueError:
        return None


def from_conf_file(path: Path) -> AppServer | None:
    """An ``--app-conf FILE``: which app server it configures is read from its name and content
    (``gunicorn.conf.py``/``*.py``, a ``[uwsgi]`` ini, ``puma.rb``, a ``.js`` script)."""
    name = path.name.lower()
    text = _read(path)
    if text is None:
        return None
    origin = f"--app-conf {path}"
    if name.endswith(".py"):
        settings, binds = gunicorn_conf(path)
        logs = [s.value for k, s in settings.items() if k == "errorlog" and s.value not in ("-", "")]
        return AppServer("gunicorn", binds=tuple(binds or ["127.0.0.1:8000"]), settings=settings,
                         origin=origin, logs=tuple(logs))
    if name.endswith(".rb"):
        settings, binds, logs = puma_rb(path)
        return AppServer("puma", binds=tuple(binds or ["0.0.0.0:9292"]), settings=settings,
                         origin=origin, logs=tuple(logs))
    if name.endswith((".js", ".mjs", ".cjs")):
        settings, binds = node_script(path)
        return AppServer("node", binds=tuple(binds), settings=settings, origin=origin)
    if parse_ini_text_ok(text):
        settings, binds, logs = uwsgi_ini(path)
        return AppServer("uwsgi", binds=tuple(binds), settings=settings, origin=origin,
                         logs=tuple(logs))
    return None


def split_exec_start(value: str) -> list[str]:
    """A systemd ``ExecStart=`` value as argv (its ``-@:+!`` prefixes dropped; systemd.service(5))."""
    v = value.strip().lstrip("-@:+!")
    try:
        return shlex.split(v)
    except ValueError:
        return v.split()
