"""Each input is parsed once per run (issue 23, item 3; ``sources.once``).

The parsers themselves are instrumented (a profile hook counts the calls of each config
loader's code, by the file it was given), so a new caller that goes around the run's registry
is caught as well as one that asks the registry twice.  Each command runs in-process through
the CLI's own entry point, on the repository's fixtures, as a user would run it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "src" / "why502" / "demo"
HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"
APA = FIXTURES_DIR / "recorded-proxies" / "apache"
APA_SLOW = FIXTURES_DIR / "recorded" / "apache-too-slow"


def _loaders() -> dict[Any, str]:
    import why502.proxies.apache.config as apache
    import why502.proxies.haproxy.config as haproxy
    import why502.proxies.nginx.config.load as nginx_load
    import why502.sources.fpm as fpm

    return {nginx_load.parse_nginx.__code__: "nginx", haproxy.load_haproxy.__code__: "haproxy",
            apache.load_apache.__code__: "apache", fpm._load_fpm_config.__code__: "php-fpm"}


@contextlib.contextmanager
def counting() -> Iterator[Counter[tuple[str, str]]]:
    """Count the parses of every config loader, by (loader, file), while the block runs."""
    codes = _loaders()
    seen: Counter[tuple[str, str]] = Counter()

    def hook(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code in codes:
            args = frame.f_locals
            path = next((args[k] for k in ("path_or_dump", "path", "fpm_conf") if k in args), None)
            seen[(codes[frame.f_code], str(path))] += 1

    old = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield seen
    finally:
        sys.setprofile(old)


def run_counted(*argv: str) -> Counter[tuple[str, str]]:
    with counting() as seen, contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    assert code in (0, 1), (argv, code)
    return seen


def _demo(tmp: Path) -> Path:
    """The bundled demo incident with its ``/lab`` paths made real (its pool files resolve)."""
    root = tmp / "demo"
    shutil.copytree(DEMO, root)
    for conf in root.glob("*.conf"):
        conf.write_text(conf.read_text().replace("/lab", str(root)))
    return root


def _commands(tmp: Path) -> dict[str, list[str]]:
    d = _demo(tmp)
    hap_cfg = str(HAP / "runtime" / "haproxy.cfg")
    return {
        "diagnose nginx": ["diagnose", "--offline", "--nginx-conf", str(d / "nginx.conf"),
                           "--error-log", str(d / "error.log"), "--access-log", str(d / "access.log"),
                           "--fpm-conf", str(d / "php-fpm.conf"), "--fpm-log", str(d / "php-fpm.log"),
                           "--format", "json"],
        "diagnose haproxy": ["diagnose", "--offline", "--config", str(HAP / "sc-refused.cfg"),
                             "--error-log", str(HAP / "sc-refused.log"), "--format", "json"],
        "diagnose apache": ["diagnose", "--offline", "--config", str(APA / "http-read-timeout.conf"),
                            "--error-log", str(APA / "http-read-timeout.log"), "--format", "json"],
        "lint nginx": ["lint", str(d / "nginx.conf"), "--fpm-conf", str(d / "php-fpm.conf"),
                       "--format", "json"],
        "lint haproxy": ["lint", hap_cfg, "--format", "json"],
        "stats nginx": ["stats", "--nginx-conf", str(d / "nginx.conf"), str(d / "access.log"),
                        "--format", "json"],
        "stats haproxy": ["stats", "--proxy", "haproxy", "--config", hap_cfg,
                          str(HAP / "sc-refused.log"), "--format", "json"],
        # an access log (an error log is no access log: stats says so and exits 3)
        "stats apache": ["stats", "--proxy", "apache", "--config", str(APA_SLOW / "apache2.conf"),
                         str(APA_SLOW / "apache-access.log"), "--format", "json"],
        "fix --lint": ["fix", "--lint", str(d / "nginx.conf"), "--state-dir", str(tmp / "state")],
    }


COMMANDS = ["diagnose nginx", "diagnose haproxy", "diagnose apache", "lint nginx", "lint haproxy",
            "stats nginx", "stats haproxy", "stats apache", "fix --lint"]


@pytest.mark.parametrize("name", COMMANDS)
def test_each_config_is_parsed_once_per_run(name: str, tmp_path: Path) -> None:
    seen = run_counted(*_commands(tmp_path)[name])
    assert seen, f"{name}: no config parsed (the instrument missed the loader)"
    twice = {k: n for k, n in seen.items() if n > 1}
    assert not twice, f"{name}: parsed more than once: {twice}"


def test_fix_asks_the_config_three_things_and_parses_it_once(tmp_path: Path) -> None:
    """``fix`` asks nginx's config for its files, its pid file and its error logs (three
    parses before the registry)."""
    from why502.proxies.nginx.fix import Nginx  # its fix plug-in (pid_file is nginx's own)
    from why502.sources.once import run_inputs

    conf = _demo(tmp_path) / "nginx.conf"
    svc = Nginx(binary="/nonexistent/nginx", conf=str(conf))
    with run_inputs(), counting() as seen:
        svc.files()
        svc.error_logs()
        svc.pid_file()
    assert seen == Counter({("nginx", str(conf)): 1})


def test_an_edited_config_is_parsed_again(tmp_path: Path) -> None:
    """The registry keeps a parse only while the file is the same: ``fix`` edits, then reads."""
    from why502.proxies.nginx.source import nginx_config
    from why502.sources.once import run_inputs

    conf = _demo(tmp_path) / "nginx.conf"
    with run_inputs(), counting() as seen:
        first = nginx_config(str(conf))
        conf.write_text(conf.read_text() + "\n# edited\n")
        second = nginx_config(str(conf))
        assert nginx_config(str(conf)) is second
    assert first is not second and seen[("nginx", str(conf))] == 2


def test_a_file_added_for_a_glob_include_is_read(tmp_path: Path) -> None:
    """``include conf.d/*.conf``: a new file there changes the config though no file read
    before changed (``watch`` re-reads the config of a reloaded nginx)."""
    from why502.proxies.nginx.source import nginx_config
    from why502.sources.once import run_inputs

    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("upstream a { server 127.0.0.1:9; }\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    include {tmp_path}/conf.d/*.conf;\n}}\n")
    with run_inputs():
        assert len(nginx_config(str(conf)).files) == 2
        (tmp_path / "conf.d" / "b.conf").write_text("upstream b { server 127.0.0.1:9; }\n")
        assert len(nginx_config(str(conf)).files) == 3


# Logs: every open of a file for reading raises the "open" audit event (builtins.open, gzip,
# sources.logfiles); os.open's readability check (mode None) reads nothing and is not counted.
# An audit hook cannot be removed, so it counts only while ``_LOG_OPENS`` is armed.
_LOG_OPENS: list[Counter[str]] = []


def _count_log_opens(event: str, args: tuple[Any, ...]) -> None:
    if _LOG_OPENS and event == "open" and args and args[1] is not None:
        _LOG_OPENS[-1][str(args[0])] += 1


_HOOKED: set[Callable[[str, tuple[Any, ...]], None]] = set()


@contextlib.contextmanager
def _armed(hook: Callable[[str, tuple[Any, ...]], None], armed: list[Counter[str]]
           ) -> Iterator[Counter[str]]:
    """A counter that ``hook`` (added as an audit hook once) fills while the block runs."""
    if hook not in _HOOKED:
        sys.addaudithook(hook)
        _HOOKED.add(hook)
    seen: Counter[str] = Counter()
    armed.append(seen)
    try:
        yield seen
    finally:
        armed.remove(seen)


def log_reads() -> contextlib.AbstractContextManager[Counter[str]]:
    """Count the opens for reading of every file, by path, while the block runs."""
    return _armed(_count_log_opens, _LOG_OPENS)


@pytest.mark.parametrize("case", ["sc-refused", "backend-502", "ph-invalid-header"])
def test_diagnose_reads_haproxys_one_log_once(case: str) -> None:
    """HAProxy writes one log, which ``diagnose`` takes as its error log and its access log
    (``Hooks.access_feed``): the file is read once, not once per role (issue 23 item 3, issue
    28: reading it twice, and sniffing its head, cost 2.7x on a 200,000-line log)."""
    log = str(HAP / f"{case}.log")
    with log_reads() as seen, contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["diagnose", "--offline", "--config", str(HAP / f"{case}.cfg"), "--error-log", log,
                     "--format", "json"])
    assert code in (0, 1)
    assert '"access_logs"' in out.getvalue()
    assert seen[log] == 1, f"{case}.log opened for reading {seen[log]} times"


def _opens(argv: list[str]) -> Counter[str]:
    with log_reads() as seen, contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    assert code in (0, 1), (argv, code)
    return seen


def test_diagnose_opens_nginxs_config_and_error_log_once(tmp_path: Path) -> None:
    """The config file is opened once per run: its bytes are read where the loader checks it can
    be read, handed to crossplane's lexer and kept for the text the cause model quotes
    (``NginxConfig.file_text``); before, the head (is it a dump?), the readability check, the
    lexer and ``file_text`` opened it four times.  The error log is opened once."""
    d = _demo(tmp_path)
    conf, err = str(d / "nginx.conf"), str(d / "error.log")
    seen = _opens(["diagnose", "--offline", "--nginx-conf", conf, "--error-log", err,
                   "--access-log", str(d / "access.log"), "--format", "json"])
    assert (seen[conf], seen[err]) == (1, 1), seen
    # the access log: the edge families' sniff of its first lines (app.stats.sniff) keeps the
    # file open, and the scan's checks (sources.scan.probe: its head and the line length) read
    # that file (was 2, and 3 before probe); polars' own read of the file is in Rust and raises
    # no audit event
    assert seen[str(d / "access.log")] == 1, seen


def test_stats_opens_nginxs_access_log_once(tmp_path: Path) -> None:
    seen = _opens(_commands(tmp_path)["stats nginx"])
    assert seen[str(tmp_path / "demo" / "access.log")] == 1, seen


@pytest.mark.parametrize("name", ["lint nginx", "fix --lint", "stats nginx"])
def test_each_command_opens_nginxs_config_once(name: str, tmp_path: Path) -> None:
    argv = _commands(tmp_path)[name]
    conf = str(tmp_path / "demo" / "nginx.conf")
    assert _opens(argv)[conf] == 1


def test_stats_apache_opens_its_log_once(tmp_path: Path) -> None:
    log = str(APA_SLOW / "apache-access.log")
    assert _opens(_commands(tmp_path)["stats apache"])[log] == 1


# Files made: an open for writing, a temporary file or directory (``tempfile``), a directory
# (``os.mkdir``: the run's scratch directory, ``sources.scratch``).  Armed like ``_LOG_OPENS``.
_MADE: list[list[str]] = []
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _count_made(event: str, args: tuple[Any, ...]) -> None:
    if not _MADE:
        return
    if event in ("tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir"):
        _MADE[-1].append(f"{event} {args[0]}")
    elif event == "open" and args:
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITES):
            _MADE[-1].append(f"open {args[0]} {mode or flags}")


@contextlib.contextmanager
def files_made() -> Iterator[list[str]]:
    if not getattr(files_made, "hooked", False):
        sys.addaudithook(_count_made)
        files_made.hooked = True  # type: ignore[attr-defined]
    made: list[str] = []
    _MADE.append(made)
    try:
        yield made
    finally:
        _MADE.remove(made)


REC = FIXTURES_DIR / "recorded"


def _placed(tmp: Path, scenario: str) -> Path:
    """A recorded scenario with its ``/lab`` paths made real (its ``CustomLog`` names the copy)."""
    root = tmp / scenario
    root.mkdir()
    for f in (REC / scenario).iterdir():
        (root / f.name).write_text(f.read_text(encoding="utf-8").replace("/lab", str(root)), encoding="utf-8")
    return root


def _diagnose_haproxy(tmp: Path, as_access: bool) -> tuple[list[str], str]:
    d = _placed(tmp, "haproxy-backend-down")
    log = str(d / "haproxy.log")
    return ["diagnose", "--offline", "--proxy", "haproxy", "--config", str(d / "haproxy.cfg"),
            "--access-log" if as_access else "--error-log", log, "--format", "json"], log


def _diagnose_apache(tmp: Path, as_access: bool) -> tuple[list[str], str]:
    d = _placed(tmp, "apache-too-slow")
    log = str(d / "apache-access.log")
    return ["diagnose", "--offline", "--proxy", "apache", "--config", str(d / "apache2.conf"),
            "--error-log", str(d / "apache-error.log"), "--access-log", log, "--format", "json"], log


@pytest.mark.parametrize(("make", "as_access"), [(_diagnose_haproxy, False), (_diagnose_haproxy, True),
                                                 (_diagnose_apache, True)],
                         ids=["haproxy-one-log", "haproxy-access-log", "apache-access-log"])
def test_diagnose_reads_another_proxys_access_log_once_and_writes_nothing(
        make: Any, as_access: bool, tmp_path: Path) -> None:
    """``diagnose --proxy haproxy|apache`` with a config and an access log: the access log is
    read once and no file is made, not even a temporary one: its lines go straight into the
    statistics engine's columns (``Hooks.access_log``: the plug-in's frames; HAProxy's one log
    as its error log: the error log's one read feeds them, ``Hooks.access_feed``).  Before,
    they were written as nginx text into a scratch file (``app.stats.rewrite``) that the engine
    read again.  A file named with ``--access-log`` has its first 256 KiB read first (is it an
    edge's log? ``app.stats.sniff``), from the file the reader then takes (``sources.once``)."""
    import json

    argv, log = make(tmp_path, as_access)
    with log_reads() as seen, files_made() as made, contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(argv)
    assert code in (0, 1), argv
    read = json.loads(out.getvalue())["inputs"]
    assert read["access_logs"] == [log] and read["access_requests"] > 0, read
    assert seen[log] == 1, f"{log} opened for reading {seen[log]} times"
    assert made == [], f"files made: {made}"
# --- every command x every proxy (issue 23 item 3: "the number of places that parse a config or
# read a log per run", goal 1 each): each run's opens of its config and of each log, counted by
# the audit hook above, on one recording per proxy with a config and its logs.

from tests.lab.test_edge_recordings import _materialize as _recording  # noqa: E402
from why502.proxies import PROXIES  # noqa: E402  (the matrix's proxies are the registry's)

REC = FIXTURES_DIR / "recorded"
TRAEFIK = FIXTURES_DIR / "cloud" / "recorded" / "traefik-json"
MATRIX_PROXIES = ("nginx", "apache", "haproxy", "envoy", "caddy", "traefik")
MATRIX_COMMANDS = ("diagnose", "stats", "lint", "fix", "classify")


def _inputs(proxy: str, tmp: Path) -> tuple[str, list[str], list[str]]:
    """(config, error logs, access logs) of one recording of ``proxy``."""
    if proxy == "nginx":
        d = _demo(tmp)
        return str(d / "nginx.conf"), [str(d / "error.log")], [str(d / "access.log")]
    if proxy == "haproxy":  # one log: its error and access lines (Hooks.access_feed)
        return str(HAP / "sc-refused.cfg"), [str(HAP / "sc-refused.log")], []
    if proxy == "traefik":
        d = _recording(TRAEFIK, tmp)  # its /lab made a real directory (configs name their logs)
        return str(d / "dynamic-json.yml"), [], [str(d / "traefik-access-json.log")]
    d = _recording(REC / f"{proxy}-too-slow", tmp)
    files = __import__("json").loads((d / "meta.json").read_text())["files"]
    return (str(d / files["config"]), [str(d / files["error_log"])] if "error_log" in files else [],
            [str(d / files["access_log"])])


def _argv(command: str, proxy: str, config: str, errors: list[str], access: list[str],
          tmp: Path) -> list[str]:
    logs = errors + access
    if command == "diagnose":
        return ["diagnose", "--offline", "--format", "json", "--proxy", proxy, "--config", config,
                *(a for e in errors for a in ("--error-log", e)),
                *(a for e in access for a in ("--access-log", e))]
    if command == "stats":
        return ["stats", "--proxy", proxy, "--config", config, *(access or errors), "--format", "json"]
    if command == "lint":
        return ["lint", "--proxy", proxy, "--config", config, "--format", "json"]
    if command == "fix":
        return ["fix", "--lint", config, "--proxy", proxy, "--state-dir", str(tmp / "state")]
    return ["classify", *logs, "--format", "json"]


_ALL_OPENS: list[Counter[str]] = []


def _count_all_opens(event: str, args: tuple[Any, ...]) -> None:
    """Every open for reading: ``open()``/gzip (a mode), and ``os.open`` (no mode, flags: the
    config readers' ``parsers.configread``, the scanners' ``sources.scan``); writes left out, and
    ``sources.opening.readable``'s check of a named input (opened and closed, no byte read)."""
    if _ALL_OPENS and event == "open" and args:
        caller = sys._getframe(1).f_code
        if caller.co_name == "readable" and caller.co_filename.endswith("sources/opening.py"):
            return
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        reading = (mode is not None and not set(str(mode)) & set("wax+")) or (
            mode is None and not (flags or 0) & (os.O_WRONLY | os.O_RDWR))
        if reading:
            _ALL_OPENS[-1][str(args[0])] += 1


def all_reads() -> contextlib.AbstractContextManager[Counter[str]]:
    """Count every open for reading of every file, by path, while the block runs."""
    return _armed(_count_all_opens, _ALL_OPENS)


def opens_matrix(tmp: Path) -> dict[tuple[str, str], dict[str, int | str]]:
    """Per (command, proxy): the opens for reading of the config and of each log the run was
    given (what the command reads: classify no config, lint and fix no log), or its exit."""
    out: dict[tuple[str, str], dict[str, int | str]] = {}
    for proxy in MATRIX_PROXIES:
        config, errors, access = _inputs(proxy, tmp / proxy)
        for command in MATRIX_COMMANDS:
            if command == "fix" and not PROXIES[proxy].hooks.fix_service:
                continue  # no fix service declared (Traefik): fix does not take it
            argv = _argv(command, proxy, config, errors, access, tmp / proxy / command)
            with all_reads() as seen, contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                code = main(argv)
            row: dict[str, int | str] = {"exit": code}
            if command != "classify":
                row["config"] = seen[config]
            given = {"lint": [], "fix": [], "stats": access or errors}.get(command, errors + access)
            for kind, paths in (("error log", errors), ("access log", access)):
                for path in paths:
                    if path in given:
                        row[kind] = seen[path]
            out[(command, proxy)] = row
    return out


# Every open counted is 1, none known above it: the last ones were the 256 KiB sniff of a log
# (is it an edge's? app.stats.sniff; cmd_classify's family; the format guessed from its head)
# before the full read, now one open handed from the sniff to the reader (sources.once.keep/take).


def test_each_command_opens_each_proxys_config_and_logs_once(tmp_path: Path) -> None:
    matrix = opens_matrix(tmp_path)
    table = "\n".join(f"{c:9} {p:8} " + "  ".join(f"{k} {v}" for k, v in row.items())
                      for (c, p), row in matrix.items())
    print(table)
    over = {(c, p, k): n for (c, p), row in matrix.items() for k, n in row.items()
            if k != "exit" and isinstance(n, int) and n > 1}
    assert not over, f"opened more than once:\n{table}"
    # stats of an edge proxy's log (no stats plug-in: Envoy, Caddy, Traefik) needs no config
    unread = {(c, p, k) for (c, p), row in matrix.items() for k, n in row.items()
              if n == 0 and k != "exit"
              and not (c == "stats" and k == "config" and not PROXIES[p].hooks.stats)}
    assert not unread, f"not read at all (the instrument missed it):\n{table}"


# --- the sniff's file handed to the reader (sources.once.keep/take): the cases outside the matrix


def _gz(src: Path, dst: Path) -> str:
    import gzip

    dst.write_bytes(gzip.compress(src.read_bytes()))
    return str(dst)


def test_a_log_whose_format_or_family_is_guessed_from_its_head_is_opened_once(tmp_path: Path) -> None:
    """No config: ``stats`` guesses the format from the head (``head_lines``), ``diagnose``
    sniffs the edge families and another proxy's access format (``sniff_access_logs``), then
    reads the log whole; plain or ``.gz``, each log is opened once."""
    d = _demo(tmp_path)
    access, err = str(d / "access.log"), str(d / "error.log")
    gz = _gz(d / "access.log", tmp_path / "access.log.gz")
    hap = str(HAP / "sc-refused.log")
    cases = {
        "stats": (["stats", access, "--format", "json"], [access]),
        "stats .gz": (["stats", gz, "--format", "json"], [gz]),
        "diagnose logs": (["diagnose", "--offline", "--error-log", err, "--access-log", access,
                           "--format", "json"], [access, err]),
        "diagnose .gz": (["diagnose", "--offline", "--access-log", gz, "--format", "json"], [gz]),
        "diagnose httplog": (["diagnose", "--offline", "--access-log", hap, "--format", "json"], [hap]),
        "classify .gz": (["classify", gz, "--format", "json"], [gz]),
    }
    opened = {name: [_opens(argv)[log] for log in logs] for name, (argv, logs) in cases.items()}
    assert all(n == [1] * len(n) for n in opened.values()), repr(opened)


@pytest.mark.parametrize("name", ["envoy-istio-text.log", "envoy-istio-json.log"])
def test_classify_jsonl_of_an_edge_log_opens_it_once(name: str) -> None:
    """``classify --format jsonl`` of an edge log: its family's sniff, the answering reader's
    look at its head and the batch size's (``app.stats.lb._jsonl_batch``: the lines' length)
    share the file the read takes (it was opened twice when the last did not keep it)."""
    log = str(FIXTURES_DIR / "cloud" / "recorded" / "envoy" / name)
    # (the rows go to stdout's bytes: cli.cmd_classify._write_jsonl)
    with log_reads() as seen, contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):
        code = main(["classify", log, "--format", "jsonl"])
    assert code == 1
    assert seen[log] == 1, seen


def test_a_kept_log_is_handed_on_once_and_closed_with_the_run(tmp_path: Path) -> None:
    """``keep`` opens once and rewinds; ``take`` hands the file over and forgets it; a file
    never taken is closed when the run ends; outside a run nothing is kept."""
    from why502.sources import once

    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    assert once.keep(str(log)) is None  # no run: the caller opens (and closes) its own
    with once.run_inputs():
        fh = once.keep(str(log))
        assert fh is not None and fh.read(3) == b"one"
        assert once.keep(str(log)) is fh and fh.tell() == 0  # rewound for the next reader
        assert once.kept(str(log)) is fh
        assert once.take(str(log)) is fh and once.take(str(log)) is None
        fh.close()
        left = once.keep(str(log))
        assert left is not None and left is not fh
    assert left.closed


def test_a_log_rotated_after_its_sniff_is_read_from_the_new_file(tmp_path: Path) -> None:
    """logrotate moved the log between the sniff and the read: the reader reads the file the
    name holds now (as a fresh open would), and the kept one is closed."""
    from why502.sources import once
    from why502.sources.logfiles import head_batch, iter_batches

    log = tmp_path / "access.log"
    log.write_bytes(b"old line\n")
    with once.run_inputs():
        head = head_batch(log, 1 << 10)
        assert head is not None and head.lines == ["old line"]
        held = once.kept(str(log))
        assert held is not None
        log.rename(tmp_path / "access.log.1")
        log.write_bytes(b"new line\n")
        assert [b.lines for b in iter_batches([log])] == [["new line"]]
        assert held.closed and once.kept(str(log)) is None


def test_apaches_logs_alone_are_opened_once() -> None:
    """Apache's logs given alone: the error log's head says whose they are
    (``sniff_error_logs``) and the access log's head which ``LogFormat``
    (``proxies.apache.source.access_head``) -- each read from the file the run keeps, so each log
    is opened once."""
    access, err = str(APA_SLOW / "apache-access.log"), str(APA_SLOW / "apache-error.log")
    seen = _opens(["diagnose", "--offline", "--error-log", err, "--access-log", access, "--format", "json"])
    assert (seen[access], seen[err]) == (1, 1), {k: v for k, v in seen.items() if "apache-" in k}
