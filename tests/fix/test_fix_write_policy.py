"""The write policy of ``why502 fix`` (``app.fix.policy``, ``app.fix.writer``): a report does not
choose what is written, links survive, the lock is on the config file, and a damaged journal
is one line and exit 3.

The crafted-report test runs a real nginx on loopback (lab runtime, stopped by PID); the others
name the config on the command line and test it with a stand-in checker (a shell script), as
``test_fix_refusals`` does: what they prove happens before and around the config test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.fix.reports import journal_states, report_for
from tests.support.clirun import WHY502, why502
from why502.app.fix.service import service_class
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.machine import free_port
from why502.sources.proxyprocs import master_of

SITE = "server {\n    listen 127.0.0.1:1;\n    location / {\n        proxy_read_timeout 1s;\n    }\n}\n"


def _apply(report: Path, state: Path, conf: Path, checker: str = "/bin/true",
           *extra: str) -> subprocess.CompletedProcess[str]:
    return why502("fix", str(report), "--apply", "--yes", "--no-reload", "--state-dir", str(state),
                  "--nginx", checker, "--config", str(conf), *extra)


# -- 1. the report does not choose the file ------------------------------------------------------

@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_a_crafted_report_cannot_name_the_file_to_write(tmp_path: Path) -> None:
    """A report that names an arbitrary file (valid for ``nginx -t``, so the config test would
    pass on it) as nginx's config and as the fix's file is refused while a real nginx runs with
    another config; the same report is refused when it names the running config but a file
    outside its tree.  The file keeps its bytes and no change set is started."""
    victim = tmp_path / "victim.conf"
    victim.write_text("events {}\n")
    original = victim.read_bytes()
    injected = "events {}\n# ssh-rsa AAAA attacker@example\n"
    crafted = report_for(victim, injected, tmp_path / "crafted.json")
    with Stack() as stack:
        stack.start_nginx(f"server {{ listen {stack.listen}; return 200; }}")
        nginx = find_nginx()
        assert nginx is not None
        service = service_class("nginx")
        assert service is not None
        dumped = service(nginx, str(stack.p.nginx_conf)).dumped_files()  # nginx -T's own list
        assert dumped == [str(stack.p.nginx_conf)]
        state = tmp_path / "s"
        res = why502("fix", str(crafted), "--apply", "--yes", "--no-reload", "--state-dir", str(state),
                     "--nginx", nginx)
        assert res.returncode == 3, res.stdout + res.stderr
        assert "no running nginx" in res.stderr and "--config FILE" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        assert victim.read_bytes() == original and journal_states(state) == []

        data = json.loads(crafted.read_text())  # the running config, but a file outside it
        data["inputs"]["nginx_conf"] = str(stack.p.nginx_conf)
        crafted.write_text(json.dumps(data))
        res = why502("fix", str(crafted), "--apply", "--yes", "--no-reload", "--state-dir", str(state),
                     "--nginx", nginx)
        assert res.returncode == 3, res.stdout + res.stderr
        assert "is not a file of the config that nginx -t of" in res.stderr
        assert f"the running nginx, pid {stack.nginx.pid if stack.nginx else '?'}" in res.stderr
        assert victim.read_bytes() == original and journal_states(state) == []


# -- 2. links ------------------------------------------------------------------------------------

def _debian_site(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``nginx.conf`` including ``sites-enabled/*.conf``, where ``x.conf`` is a relative link to
    ``../sites-available/x.conf``, as Debian's nginx package lays it out."""
    etc = tmp_path / "etc"
    (etc / "sites-available").mkdir(parents=True)
    (etc / "sites-enabled").mkdir()
    main = etc / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {etc}/sites-enabled/*.conf;\n}}\n")
    target = etc / "sites-available" / "x.conf"
    target.write_text(SITE)
    link = etc / "sites-enabled" / "x.conf"
    link.symlink_to("../sites-available/x.conf")
    return main, link, target


def test_a_symlinked_site_is_written_through_and_undo_restores_it_exactly(tmp_path: Path) -> None:
    main, link, target = _debian_site(tmp_path)
    os.chown(target, 65534, 65534)
    target.chmod(0o640)
    before = (target.read_bytes(), target.stat().st_mode, target.stat().st_uid, target.stat().st_gid)
    report = report_for(link, SITE.replace("1s;", "30s;"), tmp_path / "r.json")
    state = tmp_path / "s"
    res = _apply(report, state, main)
    assert res.returncode == 0, res.stdout + res.stderr
    assert link.is_symlink() and os.readlink(link) == "../sites-available/x.conf"
    assert b"proxy_read_timeout 30s;" in target.read_bytes()
    assert (target.stat().st_mode, target.stat().st_uid, target.stat().st_gid) == before[1:]
    assert sorted(p.name for p in link.parent.iterdir()) == ["x.conf"]  # no temp file beside the link
    undo = why502("fix", "--undo", "--state-dir", str(state))
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert link.is_symlink() and os.readlink(link) == "../sites-available/x.conf"
    assert (target.read_bytes(), target.stat().st_mode, target.stat().st_uid, target.stat().st_gid) == before


def test_a_rejected_change_to_a_symlinked_site_is_rolled_back_through_the_link(tmp_path: Path) -> None:
    main, link, target = _debian_site(tmp_path)
    report = report_for(link, SITE.replace("1s;", "30s;"), tmp_path / "r.json")
    res = _apply(report, tmp_path / "s", main, "/bin/false")  # the stand-in nginx -t rejects it
    assert res.returncode == 1 and "restored from backup" in res.stdout, res.stdout + res.stderr
    assert link.is_symlink() and target.read_text() == SITE


def test_a_hard_linked_file_keeps_its_other_name(tmp_path: Path) -> None:
    """Written in place: both names see the change, and the undo."""
    conf = tmp_path / "site.conf"
    conf.write_text(SITE)
    other = tmp_path / "kept-elsewhere.conf"
    os.link(conf, other)
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {conf};\n}}\n")
    inode = conf.stat().st_ino
    report = report_for(conf, SITE.replace("1s;", "30s;"), tmp_path / "r.json")
    state = tmp_path / "s"
    res = _apply(report, state, main)
    assert res.returncode == 0, res.stdout + res.stderr
    assert conf.stat().st_ino == inode and conf.stat().st_nlink == 2
    assert b"30s;" in other.read_bytes() and other.read_bytes() == conf.read_bytes()
    undo = why502("fix", "--undo", "--state-dir", str(state))
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert other.read_text() == SITE and conf.stat().st_ino == inode and conf.stat().st_nlink == 2


# -- 3. the lock is on the config file -----------------------------------------------------------

def _checker(tmp_path: Path, verdict: str) -> tuple[Path, Path]:
    """A stand-in nginx whose ``-t`` waits until ``release`` exists (at most 120 s), then exits
    with ``verdict`` (0 or 1): the run holding the lock stays in its config test until the test
    has seen the other run wait, whatever the load of the machine."""
    release = tmp_path / "release"
    script = tmp_path / "nginx-held-t"
    script.write_text(f'#!/bin/sh\n[ "$1" = -t ] || exit 0\ni=0\n'
                      f'while [ ! -e {release} ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done\n'
                      f"exit {verdict}\n")
    script.chmod(0o755)
    return script, release


def _two_operators(tmp_path: Path, verdict_of_first: str) -> tuple[Path, int, str, str, str]:
    """Operator A applies a change and, while its config test runs (the file written, A's lock
    held), operator B applies another change to the same file, made from the same bytes, with
    another state directory; A's test ends once B says it waits for the lock (or B has ended).
    (file, A's exit, A's output, B's output, B's exit as text)."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    proxy_read_timeout 1s;\n    proxy_connect_timeout 1s;\n}\n")
    text = conf.read_text()
    first = report_for(conf, text.replace("read_timeout 1s", "read_timeout 30s"), tmp_path / "a.json")
    second = report_for(conf, text.replace("connect_timeout 1s", "connect_timeout 5s"), tmp_path / "b.json")
    checker, release = _checker(tmp_path, verdict_of_first)
    argv = ["--apply", "--yes", "--no-reload", "--config", str(conf)]
    a = subprocess.Popen([WHY502, "fix", str(first), *argv, "--state-dir", str(tmp_path / "sa"),
                          "--nginx", str(checker)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while journal_states(tmp_path / "sa") != ["written"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert journal_states(tmp_path / "sa") == ["written"]
        b = subprocess.Popen([WHY502, "fix", str(second), *argv, "--state-dir", str(tmp_path / "sb"),
                              "--nginx", "/bin/true"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert b.stdout is not None
        b_lines: list[str] = []
        for line in b.stdout:  # until B waits for A's lock (or ends without waiting)
            b_lines.append(line)
            if line.startswith("waiting:"):
                break
        release.touch()
        rest, _ = b.communicate(timeout=120)
        a_out, _ = a.communicate(timeout=120)
    finally:
        release.touch()
        if a.poll() is None:
            a.kill()
            a.wait()
    return conf, a.returncode, a_out, "".join(b_lines) + rest, str(b.returncode)


def test_two_operators_with_different_state_dirs_one_applies_the_other_refuses(tmp_path: Path) -> None:
    """B waits for A's lock on the file, then reads it, sees A's change (the hash differs from
    its report's) and refuses: exactly one change is applied, none is lost silently."""
    conf, a_code, a_out, b_out, b_code = _two_operators(tmp_path, "0")
    assert a_code == 0 and "applied (not reloaded)" in a_out, a_out
    assert "waiting: another why502 fix is changing" in b_out, b_out
    assert b_code == "3" and "changed since the report was made" in b_out, b_out
    assert "proxy_read_timeout 30s;" in conf.read_text() and "connect_timeout 1s;" in conf.read_text()
    assert journal_states(tmp_path / "sb") == []


def test_the_second_operator_acts_on_the_bytes_left_after_the_first_rolled_back(tmp_path: Path) -> None:
    """A's change fails its config test and is rolled back; B, waiting on the lock, never saw
    A's uncommitted bytes: it reads the original again and applies its own change."""
    conf, a_code, a_out, b_out, b_code = _two_operators(tmp_path, "1")
    assert a_code == 1 and "restored from backup" in a_out, a_out
    assert b_code == "0" and "applied (not reloaded)" in b_out, b_out
    assert "proxy_connect_timeout 5s;" in conf.read_text() and "read_timeout 1s;" in conf.read_text()


# -- 4. the journal ------------------------------------------------------------------------------

def _interrupted(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A change set left at 'written' (as by kill -9 after the write): (config, state, journal)."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(SITE)
    report = report_for(conf, SITE.replace("1s;", "30s;"), tmp_path / "r.json")
    state = tmp_path / "s"
    assert _apply(report, state, conf).returncode == 0
    path = next(state.glob("*/journal.json"))
    data = json.loads(path.read_text())
    data["state"] = "written"
    path.write_text(json.dumps(data))
    return conf, state, path


@pytest.mark.parametrize("damage", ["truncated", "history-null", "files-not-a-list", "backup-missing",
                                    "backup-elsewhere", "unknown-state"])
def test_a_damaged_journal_is_one_line_and_exit_3_for_every_command(tmp_path: Path, damage: str) -> None:
    conf, state, path = _interrupted(tmp_path)
    half_applied = conf.read_bytes()
    data = json.loads(path.read_text())
    if damage == "truncated":
        path.write_text(path.read_text()[:100])
    else:
        if damage == "history-null":
            data["history"] = None
        elif damage == "files-not-a-list":
            data["files"] = "x"
        elif damage == "backup-missing":
            Path(data["files"][0]["backup"]).unlink()
        elif damage == "backup-elsewhere":
            data["files"][0]["backup"] = "/etc/hostname"
        else:
            data["state"] = "half-done"
        path.write_text(json.dumps(data))
    report = report_for(conf, half_applied.decode().replace("30s;", "40s;"), tmp_path / "r2.json")
    for argv in (["--undo"], ["--list"], [str(report), "--apply", "--yes", "--nginx", "/bin/true",
                                          "--config", str(conf)]):
        res = why502("fix", *argv, "--state-dir", str(state))
        assert res.returncode == 3, (argv, res.stdout + res.stderr)
        assert f"{path}: damaged journal" in res.stderr and f"move {path.parent} out of" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "internal error" not in res.stderr
        assert "damaged journal" not in res.stdout  # said once
        assert conf.read_bytes() == half_applied  # nothing acted on what the journal cannot say
    target = tmp_path / "damaged"
    path.parent.rename(target)  # what the message says to do
    res = why502("fix", "--list", "--state-dir", str(state))
    assert res.returncode == 0 and "no change set" in res.stdout


def test_an_intact_interrupted_journal_is_still_recovered(tmp_path: Path) -> None:
    conf, state, _ = _interrupted(tmp_path)
    res = why502("fix", "--list", "--state-dir", str(state))
    assert res.returncode == 0 and "interrupted at 'written'" in res.stdout, res.stdout + res.stderr
    assert conf.read_text() == SITE and journal_states(state) == ["recovered"]


def test_recovery_leaves_a_file_someone_changed_after_the_interrupted_write(tmp_path: Path) -> None:
    """The journal says the write had finished, and the file now holds neither the bytes before
    nor the bytes written: someone edited it since; restoring the backup would lose their edit."""
    conf, state, _ = _interrupted(tmp_path)
    conf.write_text(SITE.replace("1s;", "45s;"))
    res = why502("fix", "--list", "--state-dir", str(state))
    assert res.returncode == 0 and "changed by someone else since" in res.stdout, res.stdout + res.stderr
    assert "45s;" in conf.read_text() and journal_states(state) == ["recovered"]


@pytest.mark.skipif(os.geteuid() != 0, reason="starting a process as another user needs root")
def test_a_proxy_another_user_runs_does_not_vouch_for_its_config() -> None:
    """Only a master of root or of this user names a config this user may change: another
    user's process (here a real one, run as nobody) is not trusted."""
    from why502.app.fix.policy import _trusted_master

    other = subprocess.Popen(["sleep", "30"], user=65534, group=65534)
    try:
        assert not _trusted_master(other.pid)
        assert _trusted_master(os.getpid())
    finally:
        other.kill()
        other.wait()


@pytest.mark.real
@pytest.mark.skipif(os.geteuid() != 0 or find_nginx() is None, reason="needs root and nginx")
def test_the_config_of_a_proxy_another_user_runs_is_not_written() -> None:
    """A real nginx run by nobody, on loopback: neither a report naming its config nor a lint
    run that finds it makes root's ``fix`` write it (a proxy another user runs says nothing about
    what this user may change)."""
    nginx = find_nginx()
    assert nginx is not None
    top = Path(tempfile.mkdtemp(prefix="why502-fix-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        top.chmod(0o755)
        os.chown(top, 65534, 65534)
        port = free_port()
        conf = top / "nginx.conf"
        conf.write_text(f"pid {top}/nginx.pid;\nevents {{ }}\nhttp {{\n    access_log off;\n"
                        f"    upstream app {{\n        server 127.0.0.1:9;\n        keepalive 16;\n    }}\n"
                        f"    server {{\n        listen 127.0.0.1:{port};\n"
                        "        location / {\n            proxy_pass http://app;\n        }\n    }\n}\n")
        original = conf.read_bytes()
        proc = subprocess.Popen([nginx, "-p", str(top), "-c", str(conf), "-e", str(top / "error.log"),
                                 "-g", "daemon off;"], user=65534, group=65534,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while master_of("nginx", str(conf)) is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert master_of("nginx", str(conf)) is not None, (top / "error.log").read_text()
        new = conf.read_text().replace("proxy_pass", "proxy_read_timeout 30s; proxy_pass")
        tmp = Path(tempfile.mkdtemp(prefix="why502-fix-state-"))
        report = report_for(conf, new, tmp / "r.json")
        res = why502("fix", str(report), "--apply", "--yes", "--no-reload", "--state-dir", str(tmp / "s"),
                     "--nginx", nginx)
        assert res.returncode == 3 and "no running nginx of root or of this user" in res.stderr, res.stderr
        res = why502("fix", "--lint", str(conf), "--only", "W502-001", "--apply", "--yes", "--no-reload",
                     "--state-dir", str(tmp / "s"), "--nginx", nginx)
        assert res.returncode == 3 and "that neither root nor this user runs" in res.stderr, res.stderr
        assert conf.read_bytes() == original and journal_states(tmp / "s") == []
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(top, ignore_errors=True)
