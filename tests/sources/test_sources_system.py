"""System evidence: parsers on public real lines, sources on this machine's real /proc, dmesg,
journal and systemd (absent in the build container: that must come back as Diagnostics)."""

from __future__ import annotations

import os
import pwd
import resource
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.parsers.system_text import (
    classify_unit_message,
    parse_avc_denials,
    parse_journal_json,
    parse_kernel_line,
    parse_kernel_log,
    parse_port_range,
    parse_proc_limits,
    parse_systemctl_show,
    split_log_line,
    unit_from_cgroup,
)
from why502.sources import system

FIX = FIXTURES_DIR / "system"


# ------------------------------------------------------------------------------------------
# kernel lines (public, real)


def test_public_oom_lines() -> None:
    events = parse_kernel_log((FIX / "kernel-oom-public.log").read_text(), year=2020)
    kinds = [(e.kind, e.pid, e.process) for e in events]
    assert kinds == [
        ("oom-kill", 63214, "uwsgi"),
        ("oom-invoked", None, "uwsgi"),
        ("oom-kill", 15784, "python3"),
        ("oom-kill", 15925, "(resolved)"),  # a comm with parentheses (systemd's "(resolved)")
        ("oom-chosen", 27438, "R"),
        ("oom-kill", 27438, "R"),
        ("oom-invoked", None, "redis-server"),
        ("oom-invoked", None, "php.bin"),
        ("oom-constraint", 239498, "mariadbd"),
        ("oom-kill", 239498, "mariadbd"),
    ]
    memcg = events[0]
    assert memcg.oom_type == "memcg" and memcg.uid == 0 and memcg.anon_rss_kb == 164992
    assert memcg.time is None  # raw dmesg seconds, no boot time given
    old = events[2]
    assert old.oom_type == "global" and old.uid is None and old.time == "2020-05-15T23:09:30"
    assert events[5].oom_type is None  # the old two-line format: "Killed process" without a prefix
    assert events[7].time == "2015-08-31T18:23:18"  # dmesg -T
    constraint = events[8]
    assert constraint.memcg == "/system.slice/mariadb.service" and constraint.uid == 113
    assert all(e.event_id == "oom-kill" for e in events)


def test_oom_reaper_and_noise_are_not_events() -> None:
    assert (
        parse_kernel_line("[ 7063.263325] oom_reaper: reaped process 63214 (uwsgi), now anon-rss:0kB") is None
    )
    assert parse_kernel_line("random line about memory") is None


def test_segfault_line_and_dmesg_boot_time() -> None:
    line = (
        "[ 1234.500000] php-fpm8.2[4242]: segfault at 0 ip 00007f sp 00007ffd error 4 in libc.so.6[7f+1000]"
    )
    boot = datetime(2024, 5, 1, 10, 0, 0)
    ev = parse_kernel_line(line, 1, boot_time=boot)
    assert ev is not None and ev.kind == "segfault" and ev.pid == 4242 and ev.process == "php-fpm8.2"
    assert ev.event_id == "worker-crashed" and ev.time == "2024-05-01T10:20:34.500000"


def test_journal_short_iso_and_since() -> None:
    tail = "kernel: Out of memory: Killed process {} total-vm:1kB, anon-rss:1kB\n"
    text = (
        "2024-05-01T10:00:00+0000 web1 "
        + tail.format("1 (a)")
        + "2024-05-01T12:00:00+00:00 web1 "
        + tail.format("2 (b)")
    )
    assert split_log_line(text.splitlines()[0]).tag == "kernel"
    since = datetime(2024, 5, 1, 11, 0, tzinfo=timezone.utc)
    events = parse_kernel_log(text, since)
    assert [e.pid for e in events] == [2]
    assert events[0].time == "2024-05-01T12:00:00+00:00"


# ------------------------------------------------------------------------------------------
# systemd (public real lines; systemctl show format per systemctl(1))


def test_public_systemd_lines() -> None:
    found = []
    for line in (FIX / "systemd-public.log").read_text().splitlines():
        if line.startswith("#"):
            continue
        found.append(classify_unit_message(split_log_line(line, 2024).message))
    assert found == [
        "oom-kill",
        "oom-kill",
        "unit-restart",
        None,
        "unit-restart",
        "unit-failed",
        "unit-failed",
    ]
    assert (
        classify_unit_message("nginx.service: Main process exited, code=exited, status=1/FAILURE")
        == "unit-failed"
    )
    assert classify_unit_message("nginx.service: Main process exited, code=exited, status=0/SUCCESS") is None
    assert (
        classify_unit_message("php8.2-fpm.service: Main process exited, code=killed, status=9/KILL")
        == "unit-failed"
    )


def test_systemctl_show_blocks() -> None:
    # Built from the documented Key=Value form (systemctl(1) "show": one property per line,
    # units separated by an empty line); no systemd here to record it from.
    text = (
        "Id=php8.2-fpm.service\nLoadState=loaded\nActiveState=activating\nSubState=auto-restart\n"
        "NRestarts=5\nRestart=on-failure\nResult=oom-kill\nExecMainPID=0\nExecMainStatus=9\nMainPID=0\n"
        "ActiveEnterTimestamp=Wed 2024-05-01 10:00:00 UTC\n\n"
        "Id=ghost.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\n"
        "ActiveEnterTimestamp=\n"
    )
    fpm, ghost = parse_systemctl_show(text)
    assert fpm.name == "php8.2-fpm.service" and fpm.n_restarts == 5 and fpm.result == "oom-kill"
    assert fpm.main_pid == 0 and fpm.exec_main_status == 9 and fpm.exists
    assert "result oom-kill" in fpm.describe() and "5 restarts" in fpm.describe()
    assert not ghost.exists and ghost.describe() == "ghost.service: no such unit"
    assert ghost.active_enter_timestamp is None


def test_public_journal_json_record() -> None:
    entries = parse_journal_json((FIX / "journal-public.json").read_text())
    assert len(entries) == 1
    e = entries[0]
    assert e.time == "2015-02-03T19:06:04.739502+00:00"
    assert (e.unit, e.pid, e.comm, e.identifier, e.priority) == ("nginx.service", 1, "systemd", "systemd", 6)
    assert e.message.startswith("Starting A high performance web server")
    later = datetime(2016, 1, 1, tzinfo=timezone.utc)
    assert parse_journal_json((FIX / "journal-public.json").read_text(), since=later) == []


def test_journal_binary_message_and_junk() -> None:
    # journalctl(1): fields that are not valid UTF-8 are printed as arrays of byte values
    text = (
        '{"__REALTIME_TIMESTAMP":"1700000000000000","_SYSTEMD_UNIT":"app.service",'
        '"MESSAGE":[104,105,255]}\nnot json\n[1,2]\n'
    )
    (e,) = parse_journal_json(text)
    assert e.unit == "app.service" and e.message == "hi\ufffd"


def test_cgroup_to_unit() -> None:
    assert unit_from_cgroup("0::/system.slice/php8.2-fpm.service\n") == "php8.2-fpm.service"
    assert unit_from_cgroup("12:cpu:/\n1:name=systemd:/system.slice/nginx.service\n0::/\n") == "nginx.service"
    deep = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/api.service\n"
    assert unit_from_cgroup(deep) == "api.service"
    assert unit_from_cgroup("0::/system.slice/docker-abc.scope\n") == "docker-abc.scope"
    assert (
        unit_from_cgroup(Path("/proc/self/cgroup").read_text()) in (None,) or True
    )  # whatever this host has


def test_public_avc_denials() -> None:
    denials = parse_avc_denials((FIX / "audit-avc-public.log").read_text())
    assert len(denials) == 3
    nginx = denials[0]
    assert nginx.permissions == ["name_connect"] and nginx.comm == "nginx" and nginx.dest_port == 8000
    assert nginx.tclass == "tcp_socket" and nginx.permissive is None and nginx.pid == 1111
    assert nginx.time == "2017-04-12T01:52:26+00:00"
    assert "name_connect" in nginx.describe() and "port 8000" in nginx.describe()
    assert denials[1].permissive is True and denials[1].path == "/etc/nginx/squest/nginx.conf"
    assert denials[2].time is None and denials[2].permissions == ["shutdown"]
    assert (
        parse_avc_denials(
            (FIX / "audit-avc-public.log").read_text(), since=datetime(2018, 1, 1, tzinfo=timezone.utc)
        )[0].comm
        == "nginx"
    )  # only the undated journal line and the 2021 one remain


def test_limits_and_sysctl_text() -> None:
    limits = parse_proc_limits(Path("/proc/self/limits").read_text())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = limits["Max open files"]
    assert nofile.soft == (None if soft == resource.RLIM_INFINITY else soft)
    assert nofile.hard == (None if hard == resource.RLIM_INFINITY else hard)
    assert nofile.units == "files"
    assert parse_port_range("32768\t60999\n") == (32768, 60999) and parse_port_range("x") is None


# ------------------------------------------------------------------------------------------
# sources on this machine


def test_kernel_events_from_a_file() -> None:
    res = system.read_kernel_events(str(FIX / "kernel-oom-public.log"))
    assert res.source == f"file:{FIX / 'kernel-oom-public.log'}" and len(res.events) == 10
    assert res.diagnostics == []
    missing = system.read_kernel_events("/nonexistent/kern.log")
    assert missing.events == [] and missing.diagnostics[0].severity == "error"


def test_kernel_events_first_source_that_works() -> None:
    res = system.read_kernel_events(None, since=datetime.now() - timedelta(days=1))
    if res.source is None:
        assert any("no kernel log could be read" in d.message for d in res.diagnostics)
    else:
        assert res.source in ("journalctl -k", "dmesg -T", "file:/var/log/kern.log")
        if res.source != "journalctl -k":  # why journalctl was passed over is recorded
            assert any(d.message.startswith("kernel log: journalctl -k:") for d in res.diagnostics)


def test_kernel_log_denied_without_root() -> None:
    """As an unprivileged user dmesg is refused when kernel.dmesg_restrict=1: a Diagnostic, no crash."""
    if os.geteuid() != 0:
        res = system.read_kernel_events(None)
        assert res.source is not None or res.diagnostics
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() != "1":
        pytest.skip("kernel.dmesg_restrict=0: dmesg is allowed for everyone here")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            res = system.read_kernel_events(None)
            os.write(w, f"{res.source}\n".encode() + "\n".join(d.message for d in res.diagnostics).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    source, _, messages = out.partition("\n")
    if source == "journalctl -k":
        pytest.skip("journald readable by nobody here")
    assert "dmesg" in messages and "needs root or kernel.dmesg_restrict=0" in messages


def test_units_and_journal_without_systemd() -> None:
    units = system.read_unit_states(["nginx.service", "php8.2-fpm.service"])
    journal = system.read_journal(["nginx.service"], since=datetime.now() - timedelta(hours=1))
    if system.systemd_running():
        assert {u.name for u in units.units} == {"nginx.service", "php8.2-fpm.service"}
    else:
        assert units.units == []
        assert "systemd is not running" in units.diagnostics[0].message
        assert journal.entries == [] and journal.diagnostics
    assert system.read_unit_states([]).units == []


def test_unit_of_pid_here() -> None:
    unit, diags = system.unit_of_pid(os.getpid())
    assert unit is not None or diags
    unit2, diags2 = system.unit_of_pid(2**22 + 12345)  # no such pid
    assert unit2 is None and "cannot read" in diags2[0].message


def test_selinux_absent_and_from_a_file(tmp_path: Path) -> None:
    here = system.selinux_denials()
    if not Path("/sys/fs/selinux/enforce").exists():
        assert here.mode == "disabled" and here.diagnostics
    fake = tmp_path / "selinuxfs"
    fake.mkdir()
    (fake / "enforce").write_text("1\n")
    if system.shutil.which("ausearch"):
        pytest.skip("ausearch installed: it would be asked instead of the file")
    res = system.selinux_denials(audit_log=str(FIX / "audit-avc-public.log"), selinuxfs=str(fake))
    assert res.mode == "enforcing" and res.source.startswith("file:") and len(res.denials) == 3
    gone = system.selinux_denials(audit_log=str(tmp_path / "audit.log"), selinuxfs=str(fake))
    assert gone.denials == [] and "cannot read" in gone.diagnostics[-1].message


def test_net_limits_and_a_real_time_wait() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    cli.close()  # the side that closes first goes to TIME_WAIT, remote port = the server's
    conn.close()
    srv.close()
    deadline = time.monotonic() + 3
    limits = system.read_net_limits()
    while limits.time_wait_by_remote_port.get(port, 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        limits = system.read_net_limits()
    assert limits.time_wait_by_remote_port.get(port, 0) >= 1
    assert limits.tcp_states.get("TIME_WAIT", 0) >= 1
    assert limits.somaxconn == int(Path("/proc/sys/net/core/somaxconn").read_text())
    lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert limits.ephemeral_ports == hi - lo + 1
    assert limits.file_max and limits.file_nr and limits.diagnostics == []


def test_process_limits_of_this_process() -> None:
    res = system.read_process_limits(os.getpid())
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert res.max_open_files is not None and res.max_open_files.soft == soft
    assert res.open_files is not None and res.open_files >= 3
    gone = system.read_process_limits(2**22 + 12345)
    assert gone.max_open_files is None and gone.diagnostics


def test_run_command_reports_missing_binary_and_failure() -> None:
    assert system.run_command(["why502-no-such-binary"]).error == "why502-no-such-binary is not installed"
    res = system.run_command(["ls", "/nonexistent-why502"])
    assert res.returncode != 0 and res.error and res.error.startswith("ls /nonexistent-why502:")
