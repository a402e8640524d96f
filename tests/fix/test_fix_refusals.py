"""``why502 fix --apply`` refuses, and changes nothing, when it cannot be safe: the file was
edited after the report, another run holds the lock, the disk is full, the user cannot write
the file; and a run killed between write and reload is rolled back by the next one.

No nginx has to run here: each refusal comes before the config test, and the run that is
killed waits in a stand-in ``nginx -t`` (a shell script that sleeps)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fix.reports import journal_states, report_for
from tests.support.clirun import WHY502, why502

CONF = ("events {}\nhttp {\n    server {\n        location / {\n            proxy_read_timeout 1s;\n"
        "        }\n    }\n}\n")
CURED = CONF.replace("proxy_read_timeout 1s;", "proxy_read_timeout 30s;")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A config file and a report proposing a change to it."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF)
    yield conf, report_for(conf, CURED, tmp_path / "report.json")


def apply(report: Path, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``fix --apply`` with a stand-in ``nginx -t``; no nginx runs, so the operator names the
    config (``--config``): a report's own idea of it is not enough (``app.fix.policy``)."""
    conf = json.loads(report.read_text())["inputs"]["nginx_conf"]
    return why502("fix", str(report), "--apply", "--yes", "--state-dir", str(state),
                  "--nginx", "/bin/true", "--config", conf, *extra)


def test_dry_run_lists_the_change_and_the_commands_it_never_runs(site: tuple[Path, Path]) -> None:
    conf, report = site
    res = why502("fix", str(report))
    assert res.returncode == 1
    assert "+            proxy_read_timeout 30s;" in res.stdout
    assert "$ systemctl restart app" in res.stdout and "nginx -t" not in res.stdout.split("Not config")[1]
    assert "dry run: nothing changed" in res.stdout and conf.read_text() == CONF


def test_file_edited_after_the_report_is_refused(site: tuple[Path, Path], tmp_path: Path) -> None:
    conf, report = site
    conf.write_text(CONF.replace("events {}", "events { worker_connections 512; }"))
    edited = conf.read_bytes()
    res = apply(report, tmp_path / "s")
    assert res.returncode == 3
    assert "changed since the report was made" in res.stderr and "Traceback" not in res.stderr
    assert conf.read_bytes() == edited and journal_states(tmp_path / "s") == []


def test_only_selects_by_cause(site: tuple[Path, Path]) -> None:
    _, report = site
    res = why502("fix", str(report), "--only", "W502-001")
    assert res.returncode == 0 and "no config change" in res.stdout


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat[stat.rfind(")") + 2:].split()[1] == str(pid):
                out.append(int(entry))
    return out


def test_concurrent_apply_refuses_and_a_killed_run_is_rolled_back(site: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    conf, report = site
    original = conf.read_bytes()
    slow_t = tmp_path / "nginx-slow-t"
    slow_t.write_text('#!/bin/sh\n[ "$1" = -t ] && sleep 30\nexit 0\n')  # nginx -t waits; -T dumps nothing
    slow_t.chmod(0o755)
    state = tmp_path / "s"
    first = subprocess.Popen([WHY502, "fix", str(report), "--apply", "--yes", "--state-dir", str(state),
                              "--nginx", str(slow_t), "--config", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while journal_states(state) != ["written"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert journal_states(state) == ["written"]  # the new file is in place, nginx -t is running
        assert conf.read_text() == CURED
        second = apply(report, state)
        assert second.returncode == 3 and f"another why502 fix (pid {first.pid})" in second.stderr
        helpers = _children(first.pid)
        first.send_signal(signal.SIGKILL)  # killed between write and reload
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    for pid in helpers:  # the orphaned stand-in checker, by the PID we saw
        os.kill(pid, signal.SIGKILL)
    assert conf.read_text() == CURED  # half-applied: written, never tested nor reloaded
    res = why502("fix", "--list", "--state-dir", str(state))
    assert res.returncode == 0
    assert "interrupted at 'written'" in res.stdout and str(conf) in res.stdout
    assert conf.read_bytes() == original and journal_states(state) == ["recovered"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_writes_nothing(tmp_path: Path) -> None:
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        conf = mnt / "nginx.conf"
        conf.write_text(CONF)
        report = report_for(conf, CURED, tmp_path / "r.json")
        with open(mnt / "filler", "wb", buffering=0) as fh, pytest.raises(OSError):
            while True:
                fh.write(b"x" * 512)
        res = apply(report, tmp_path / "s")
        assert res.returncode == 3
        assert "No space left on device" in res.stderr and "nothing written" in res.stderr
        assert conf.read_text() == CONF
        assert sorted(p.name for p in mnt.iterdir()) == ["filler", "nginx.conf"]  # no temp file left
        assert journal_states(tmp_path / "s") == ["rolled-back"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _as_nobody(argv: list[str], out: Path) -> int:
    """``why502 ARGV`` run by user and group 65534 (nobody), in a forked child of this test:
    the interpreter may live where nobody cannot read (a pyenv under /root), so everything the
    command imports is imported before the fork.  Output goes to ``out``."""
    import encodings.utf_8_sig  # noqa: F401 - saved reports are read as utf-8-sig

    import why502.app.fix.run
    import why502.app.fix.verify
    import why502.cli.cmd_fix
    import why502.cli.cmd_render
    import why502.cli.main
    from why502.app.fix.service import service_class

    service_class("nginx")  # its fix plug-in, imported through its Hooks when the run needs it
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 4
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            sys.stdout = sys.stderr = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - until _exit
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = why502.cli.main.main(argv)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_unprivileged_user_gets_exit_3_and_nothing_is_touched() -> None:
    top = Path(tempfile.mkdtemp(prefix="why502-fix-"))
    try:
        top.chmod(0o755)  # nobody may read the report, not write the config
        conf = top / "nginx.conf"
        conf.write_text(CONF)
        report = report_for(conf, CURED, top / "report.json")
        report.chmod(0o644)
        state = top / "state"
        state.mkdir()
        state.chmod(0o777)
        out = top / "out.txt"
        code = _as_nobody(["fix", str(report), "--apply", "--yes", "--state-dir", str(state),
                           "--nginx", "/bin/true", "--config", str(conf)], out)
        text = out.read_text()
        assert code == 3, text
        assert "permission denied" in text and "Traceback" not in text
        assert conf.read_text() == CONF and journal_states(state) == []
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_lint_fix_lists_and_fix_lint_applies_then_undoes(tmp_path: Path) -> None:
    """``why502 lint --fix`` is ``why502 fix --lint``'s dry run; ``--no-reload`` writes and tests
    (a stand-in ``nginx -t`` here), ``--undo`` brings the bytes back."""
    conf = tmp_path / "nginx.conf"
    shutil.copy(Path(__file__).parents[1] / "fixtures/lint/W502-001/fire-defaults.conf", conf)
    original = conf.read_bytes()
    dry = why502("lint", str(conf), "--fix")
    assert dry.returncode == 1 and "[1] W502-001" in dry.stdout
    assert '+            proxy_set_header Connection "";' in dry.stdout and conf.read_bytes() == original
    state = tmp_path / "s"
    res = why502("fix", "--lint", str(conf), "--apply", "--yes", "--no-reload", "--state-dir", str(state),
                 "--nginx", "/bin/true")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "applied (not reloaded)" in res.stdout and b'proxy_set_header Connection "";' in conf.read_bytes()
    assert "W502-001" not in why502("lint", str(conf), "--format", "json").stdout
    undo = why502("fix", "--undo", "--state-dir", str(state))
    assert undo.returncode == 0 and conf.read_bytes() == original


def test_a_file_outside_the_tested_config_is_refused(site: tuple[Path, Path], tmp_path: Path) -> None:
    """A report is input from elsewhere: its fix may only touch files nginx -t reads."""
    conf, _ = site
    other = tmp_path / "elsewhere.conf"
    other.write_text(CONF)
    report = report_for(other, CURED, tmp_path / "other.json")
    res = apply(report, tmp_path / "s", "--nginx-conf", str(conf))
    assert res.returncode == 3 and "is not a file of the config" in res.stderr
    assert other.read_text() == CONF and journal_states(tmp_path / "s") == []


def test_a_report_of_several_proxies_applies_one_proxys_changes_per_run(tmp_path: Path) -> None:
    """diagnose with no flags may name nginx and HAProxy findings in one report: a plan takes
    one proxy's changes (its config from ``inputs.discovered``), the others become notes."""
    from why502.app.fix.plan import from_report
    from why502.findings.model import Finding, Fix, Report

    def finding(proxy: str, conf: str) -> Finding:
        return Finding(cause="backend-too-slow", title="t", confidence=0.9, status_codes=[504],
                       symptoms=["read-timeout"], explanation="x", proxy=proxy,
                       fix=Fix(summary="s", diff=f"--- a{conf}\n+++ b{conf}\n", file=conf))

    report = Report(findings=[finding("haproxy", "/etc/haproxy/haproxy.cfg"),
                              finding("nginx", "/etc/nginx/nginx.conf")],
                    inputs={"discovered": [
                        {"proxy": "nginx", "pid": 1, "config": "/etc/nginx/nginx.conf"},
                        {"proxy": "haproxy", "pid": 2, "config": "/etc/haproxy/haproxy.cfg"}]})
    first = from_report(report)
    assert first.proxy == "haproxy" and first.config == "/etc/haproxy/haproxy.cfg"
    assert [c.file for c in first.changes] == ["/etc/haproxy/haproxy.cfg"]
    assert any("--proxy nginx" in n for n in first.notes)
    other = from_report(report, "nginx")
    assert other.config == "/etc/nginx/nginx.conf" and [c.file for c in other.changes] == [
        "/etc/nginx/nginx.conf"]
