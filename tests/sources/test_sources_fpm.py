"""PHP-FPM config: the pure parser, Debian's shipped config, and temp configs a real php-fpm
validates (``-t``) and runs, so ``$pool``, ``include=`` and prefix-relative paths are checked
against what PHP-FPM itself does."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from why502.parsers.fpm_config import (
    build_config,
    parse_fpm_text,
    parse_fpm_time,
    parse_ini_value,
    resolve_fpm_path,
)
from why502.sources.fpm import discover_pools, fpm_log_paths, load_fpm_config

FPM = next(iter(sorted(glob.glob("/usr/sbin/php-fpm*"))), None)
DEBIAN_CONF = next(iter(sorted(glob.glob("/etc/php/*/fpm/php-fpm.conf"))), None)


# ------------------------------------------------------------------------------------------
# pure parser


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5", "5"),
        ("  /run/php/x.sock   ; trailing comment", "/run/php/x.sock"),
        ('"quoted ; not a comment"', "quoted ; not a comment"),
        ("yes", "1"),
        ("On", "1"),
        ("no", ""),
        ("off ; c", ""),
        ('"no"', "no"),  # quoted: a string, not a boolean
        ("", ""),
    ],
)
def test_parse_ini_value(raw: str, value: str) -> None:
    assert parse_ini_value(raw) == value


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172800),
        ("", None),
        ("x", None),
        (None, None),
    ],
)
def test_parse_fpm_time(text: str | None, seconds: int | None) -> None:
    assert parse_fpm_time(text) == seconds


POOLS = """\
; a comment
[global]
error_log = log/fpm.log

[www]
user = www-data
Listen = /run/php/$pool.sock   ; keys are case-insensitive
listen.mode = 0660
pm = dynamic
pm.max_children = 12
request_terminate_timeout = 2m
catch_workers_output = yes
php_admin_value[memory_limit] = 256M
slowlog = /var/log/$pool.slow.log

[api]
listen = 127.0.0.1:9001
pm = ondemand
pm.max_children = 3
[WWW]
pm.max_children = 20
this line is broken
"""


def test_pools_keys_lines_and_pool_substitution() -> None:
    model = build_config(parse_fpm_text(POOLS, "/etc/fpm.conf"))
    assert model.global_settings["error_log"].value == "log/fpm.log"
    www, api = model.pools
    assert (www.name, www.file, www.line) == ("www", "/etc/fpm.conf", 5)
    assert www.listen == "/run/php/www.sock" and www.listen_is_unix
    assert www.slowlog == "/var/log/www.slow.log"
    assert www.where("listen") == "/etc/fpm.conf:7"
    # [WWW] re-opens pool "www" (fpm_conf_ini_parser_section() compares case-insensitively)
    assert www.max_children == 20 and www.where("pm.max_children") == "/etc/fpm.conf:21"
    assert www.request_terminate_timeout == 120 and www.catch_workers_output and www.memory_limit == "256M"
    assert www.listen_mode == "0660" and www.pm == "dynamic" and www.user == "www-data"
    assert api.listen_tcp() == ("127.0.0.1", 9001) and api.pm == "ondemand"
    assert model.errors == [("/etc/fpm.conf", 22, "cannot parse line: this line is broken")]


def test_listen_forms() -> None:
    model = build_config(parse_fpm_text("[a]\nlisten = 9000\n[b]\nlisten = [::1]:9000\n"))
    assert model.pools[0].listen_tcp() == ("0.0.0.0", 9000)
    assert model.pools[1].listen_tcp() == ("::1", 9000)


def test_resolve_fpm_path() -> None:
    assert resolve_fpm_path("log/php-fpm.log", None, "/var") == "/var/log/php-fpm.log"
    assert resolve_fpm_path("log/php-fpm.log", "/opt/fpm", "/var") == "/opt/fpm/log/php-fpm.log"
    assert resolve_fpm_path("/abs.log", "/opt", "/var") == "/abs.log"
    assert resolve_fpm_path("syslog", None, "/var") == "syslog"


# ------------------------------------------------------------------------------------------
# the real Debian config


@pytest.mark.skipif(
    DEBIAN_CONF is None, reason="no /etc/php/*/fpm/php-fpm.conf (Debian php-fpm not installed)"
)
def test_debian_shipped_config() -> None:
    assert DEBIAN_CONF is not None
    version = DEBIAN_CONF.split("/")[3]
    cfg = load_fpm_config(DEBIAN_CONF)
    www_conf = f"/etc/php/{version}/fpm/pool.d/www.conf"
    assert cfg.files[:2] == [DEBIAN_CONF, www_conf]
    assert cfg.error_log == f"/var/log/php{version}-fpm.log"
    assert cfg.pid_file == f"/run/php/php{version}-fpm.pid"
    www = next(p for p in cfg.pools if p.name == "www")
    assert www.listen == f"/run/php/php{version}-fpm.sock"
    assert (www.listen_owner, www.listen_group, www.user, www.group) == ("www-data",) * 4
    assert www.pm == "dynamic" and www.max_children == 5 and www.listen_mode is None
    # file:line agrees with the real file
    lines = Path(www_conf).read_text().splitlines()
    expected = next(i for i, t in enumerate(lines, 1) if t.startswith("pm.max_children"))
    assert www.where("pm.max_children") == f"{www_conf}:{expected}"
    # discovery without --fpm-conf finds the same pool
    assert any(p.name == "www" and p.file == www_conf for p in discover_pools(None))
    assert fpm_log_paths(None, cfg)[0] == cfg.error_log


def test_missing_and_empty_inputs_are_diagnostics(tmp_path: Path) -> None:
    cfg = load_fpm_config(str(tmp_path / "nope.conf"))
    assert cfg.pools == [] and cfg.diagnostics[0].severity == "error"
    assert "does not exist" in cfg.diagnostics[0].message
    empty = load_fpm_config(str(tmp_path))
    assert empty.pools == [] and "no *.conf" in empty.diagnostics[0].message
    assert fpm_log_paths("/x/fpm.log") == ["/x/fpm.log"]


def test_directory_and_lone_pool_file(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("[a]\nlisten = /run/a.sock\npm = static\npm.max_children = 2\n")
    (tmp_path / "b.conf").write_text("[b]\nlisten = 127.0.0.1:9100\n")
    (tmp_path / "ignored.txt").write_text("[c]\n")
    cfg = load_fpm_config(str(tmp_path))
    assert [p.name for p in cfg.pools] == ["a", "b"]
    lone = load_fpm_config(str(tmp_path / "a.conf"))
    assert [p.name for p in lone.pools] == ["a"] and lone.error_log is None


def test_include_that_matches_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "php-fpm.conf"
    conf.write_text(f"[global]\ninclude = {tmp_path}/pool.d/*.conf\n")
    cfg = load_fpm_config(str(conf))
    assert cfg.pools == []
    messages = " ".join(d.message for d in cfg.diagnostics)
    assert "matches no file" in messages and "defines no pool" in messages


# ------------------------------------------------------------------------------------------
# temp configs run by the real php-fpm


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGQUIT)  # graceful stop of the master, by PID
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.mark.real
@pytest.mark.skipif(FPM is None, reason="php-fpm is not installed")
def test_real_fpm_agrees_on_pool_include_and_prefix(tmp_path: Path) -> None:
    """Write a config with include=, $pool and a prefix-relative error_log; php-fpm -t accepts it,
    php-fpm runs it, and the sockets/log it creates are exactly where why502 says they are."""
    assert FPM is not None
    prefix = tmp_path / "prefix"
    (prefix / "log").mkdir(parents=True)
    (tmp_path / "pool.d").mkdir()
    run = tmp_path / "run"
    run.mkdir()
    conf = tmp_path / "php-fpm.conf"
    conf.write_text(
        "[global]\n"
        f"pid = {run}/fpm.pid\n"
        "error_log = log/fpm-error.log   ; relative: resolved against -p PREFIX\n"
        "daemonize = no\n"
        f"include = {tmp_path}/pool.d/*.conf\n"
    )
    root_user = ["user = root", "group = root"] if os.geteuid() == 0 else []
    for name in ("alpha", "beta"):
        (tmp_path / "pool.d" / f"{name}.conf").write_text(
            "\n".join(
                [
                    f"[{name}]",
                    *root_user,
                    f"listen = {run}/$pool.sock",
                    "pm = static",
                    "pm.max_children = 1",
                    "request_terminate_timeout = 30s",
                ]
            )
            + "\n"
        )
    argv = [FPM, "-p", str(prefix), "-y", str(conf)]
    if os.geteuid() == 0:
        argv.insert(1, "-R")
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr + check.stdout

    cfg = load_fpm_config(str(conf), prefix=str(prefix))
    assert [p.name for p in cfg.pools] == ["alpha", "beta"]
    assert [p.listen for p in cfg.pools] == [f"{run}/alpha.sock", f"{run}/beta.sock"]
    assert cfg.error_log == f"{prefix}/log/fpm-error.log"
    assert cfg.pools[0].request_terminate_timeout == 30
    assert cfg.pools[0].where("listen") == f"{tmp_path}/pool.d/alpha.conf:{4 if root_user else 2}"

    proc = subprocess.Popen(
        [*argv, "-F"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(os.path.exists(p.listen or "") for p in cfg.pools):
            time.sleep(0.05)
        for pool in cfg.pools:
            assert os.path.exists(pool.listen or ""), f"php-fpm did not create {pool.listen}"
        assert os.path.exists(cfg.error_log or "")
        assert fpm_log_paths(None, cfg)[0] == cfg.error_log
        assert cfg.pid_file == f"{run}/fpm.pid"
        deadline = time.monotonic() + 5
        while cfg.master_pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cfg.master_pid() == proc.pid
        deadline = time.monotonic() + 5
        while "ready to handle connections" not in Path(cfg.error_log or "").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        _stop(proc)


@pytest.mark.real
@pytest.mark.skipif(FPM is None, reason="php-fpm is not installed")
def test_real_fpm_rejects_what_we_flag(tmp_path: Path) -> None:
    """A line we report as unparsable is one php-fpm -t refuses too."""
    assert FPM is not None
    conf = tmp_path / "bad.conf"
    conf.write_text(
        f"[global]\nerror_log = {tmp_path}/e.log\n[p]\nlisten = {tmp_path}/p.sock\nnot a setting\n"
    )
    cfg = load_fpm_config(str(conf))
    assert any("cannot parse line" in d.message and ":5:" in d.message for d in cfg.diagnostics)
    argv = [FPM, "-t", "-y", str(conf)] if os.geteuid() != 0 else [FPM, "-R", "-t", "-y", str(conf)]
    check = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert check.returncode != 0


def _fpm_dump(text: str) -> dict[str, dict[str, str]]:
    """Parse ``php-fpm -tt`` (the ``fpm_conf_dump()`` NOTICE lines) into {pool: {key: value}}."""
    pools: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        _, sep, rest = line.partition("NOTICE: ")
        if not sep:
            continue
        if rest.startswith("[") and rest.endswith("]"):
            current = pools.setdefault(rest[1:-1], {})
        elif current is not None and rest.startswith("\t") and " = " in rest:
            key, _, value = rest.strip().partition(" = ")
            current[key] = value
    return pools


@pytest.mark.real
@pytest.mark.skipif(FPM is None, reason="php-fpm is not installed")
def test_parser_matches_php_fpm_own_dump(tmp_path: Path) -> None:
    """php-fpm -tt prints the configuration it understood; ours must agree on every key we read."""
    assert FPM is not None
    text = (
        POOLS.replace("this line is broken\n", "")
        .replace("/run/php/", f"{tmp_path}/")
        .replace("/var/log/", f"{tmp_path}/")
        .replace("log/fpm.log", f"{tmp_path}/fpm.log")
        .replace(
            "user = www-data",
            "user = root\ngroup = root\npm.start_servers = 1\n"
            "pm.min_spare_servers = 1\npm.max_spare_servers = 2",
        )
        .replace("[api]\n", "[api]\nuser = root\n")
    )
    if os.geteuid() != 0:
        text = text.replace("user = root\n", "").replace("group = root\n", "")
    conf = tmp_path / "c.conf"
    conf.write_text(text)
    argv = [FPM, "-tt", "-y", str(conf)] if os.geteuid() != 0 else [FPM, "-R", "-tt", "-y", str(conf)]
    check = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr[-800:]
    dump = _fpm_dump(check.stderr + check.stdout)
    ours = {p.name: p for p in load_fpm_config(str(conf)).pools}
    dump.pop("global", None)
    assert set(dump) == set(ours) == {"www", "api"}
    for name, pool in ours.items():
        theirs = dump[name]
        assert theirs["listen"] == pool.listen
        assert int(theirs["pm.max_children"]) == pool.max_children
        assert theirs["request_terminate_timeout"] == f"{pool.request_terminate_timeout or 0}s"
        assert theirs["slowlog"] == (pool.slowlog or "undefined")
        assert theirs["catch_workers_output"] == ("yes" if pool.catch_workers_output else "no")
        assert theirs["pm"] == pool.pm
    assert dump["www"]["php_admin_value[memory_limit]"] == ours["www"].memory_limit == "256M"


def test_the_config_a_running_master_was_started_with_is_discovered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PHP-FPM master titles itself "php-fpm: master process (CONFIG)" (php-src
    sapi/fpm/fpm/fpm_env.c ``fpm_env_init_main()``): a config outside the usual places is
    found from it, and its pools read (stop 47: the pool's listen is where PHP really is).
    ``WHY502_PROC_PIDS`` limits the scan as for the proxies: another master is not read."""
    from why502.sources import fpm

    conf = tmp_path / "etc" / "php-fpm.conf"
    conf.parent.mkdir()
    conf.write_text(f"[global]\nerror_log = {tmp_path}/fpm.log\n[www]\nlisten = {tmp_path}/php-fpm.sock\n")
    proc = tmp_path / "proc"
    for pid, ppid, title in ((40, 1, f"php-fpm: master process ({conf})"),
                             (41, 40, "php-fpm: pool www"),
                             (50, 1, "php-fpm8.2: master process (/nonexistent/php-fpm.conf)")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(title.encode() + b"\0\0\0")
        (proc / str(pid) / "stat").write_text(f"{pid} (php-fpm) S {ppid} 1 1 0\n")
    monkeypatch.setattr(fpm, "DISCOVERY", ())
    monkeypatch.setattr(fpm, "PROC", str(proc))
    monkeypatch.setenv("WHY502_PROC_PIDS", "40")
    assert fpm.running_configs() == [str(conf)]
    assert [p.listen for p in load_fpm_config().pools] == [f"{tmp_path}/php-fpm.sock"]
    monkeypatch.setenv("WHY502_PROC_PIDS", "7")  # the master is not among the processes to read
    assert fpm.running_configs() == []
    assert load_fpm_config().pools == []
