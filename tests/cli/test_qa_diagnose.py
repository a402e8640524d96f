"""QA as an on-call engineer: does ``why502 diagnose`` blame the right thing (subprocess)?

Found live: after the lab's ``backend-oom-killed`` scenario had left a kernel OOM kill of a
``python3`` process in dmesg, ``why502 lab run backend-crashed-php`` (a PHP-FPM child segfaulting,
FPM's own log saying so) answered "the kernel killed the backend for memory" -- an OOM kill of
another program, minutes earlier, blamed for PHP-FPM's crash. The recorded fixture reproduces it
offline with one kernel line: the FPM pool config says PHP-FPM listens on the failing socket, so
a ``python3`` OOM victim cannot be the backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import FIXTURES_DIR

WHY502 = str(Path(sys.executable).with_name("why502"))
PHP = FIXTURES_DIR / "recorded" / "backend-crashed-php"
# the kernel's line (mm/oom_kill.c __oom_kill_process()) as dmesg -T prints it, one second before
# the recorded resets (21:13:44); the victim is a Python program, not PHP-FPM
PYTHON_OOM = ("[Sat Nov 21 21:13:43 2026] Memory cgroup out of memory: Killed process 30069 "
              "(python3) total-vm:97520kB, anon-rss:70908kB, file-rss:9764kB, shmem-rss:0kB, "
              "UID:0 pgtables:220kB oom_score_adj:0\n")
FPM_OOM = PYTHON_OOM.replace("(python3)", "(php-fpm8.2)")


def diagnose(kernel_log: Path) -> dict[str, object]:
    proc = subprocess.run(
        [WHY502, "diagnose", "--offline", "--format", "json",
         "--nginx-conf", str(PHP / "nginx.conf"), "--error-log", str(PHP / "error.log"),
         "--fpm-conf", str(PHP / "php-fpm.d" / "www.conf"), "--fpm-log", str(PHP / "php-fpm.log"),
         "--kernel-log", str(kernel_log)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TZ": "UTC"}, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def test_an_oom_kill_of_another_program_is_not_php_fpms_crash(tmp_path: Path) -> None:
    kern = tmp_path / "kern.log"
    kern.write_text(PYTHON_OOM, encoding="utf-8")
    report = diagnose(kern)
    findings = report["findings"]
    assert isinstance(findings, list)
    causes = [f["cause"] for f in findings]
    assert causes[0] == "backend-crashed", causes
    assert "backend-oom-killed" not in causes


def test_an_oom_kill_of_php_fpm_still_explains_the_resets(tmp_path: Path) -> None:
    """The guard must not hide a real OOM kill of the pool's own process."""
    kern = tmp_path / "kern.log"
    kern.write_text(FPM_OOM, encoding="utf-8")
    report = diagnose(kern)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert findings[0]["cause"] == "backend-oom-killed", [f["cause"] for f in findings]


def test_a_truncated_gzip_kernel_log_is_a_note_not_an_internal_error(tmp_path: Path) -> None:
    """``--kernel-log kern.log.2.gz`` cut short (a full disk, a copy interrupted)."""
    import gzip

    whole = gzip.compress((PYTHON_OOM * 200).encode())
    kern = tmp_path / "kern.log.2.gz"
    kern.write_bytes(whole[: len(whole) // 2])
    proc = subprocess.run(
        [WHY502, "diagnose", "--offline", "--nginx-conf", str(PHP / "nginx.conf"),
         "--error-log", str(PHP / "error.log"), "--kernel-log", str(kern), "-v"],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    # said in the notes (-v), like any unreadable input (a long path may be folded at 80 columns)
    assert "kern.log.2.gz" in proc.stdout.replace("\n", "")


def test_an_explicit_nginx_conf_that_is_not_a_config_is_unreadable_input() -> None:
    """``--nginx-conf /bin/ls`` (the wrong file at 3 a.m.) said "no root cause found" and exit 0
    -- healthy -- while ``why502 lint /bin/ls`` says it is not a readable nginx config (exit 3)."""
    proc = subprocess.run([WHY502, "diagnose", "--offline", "--nginx-conf", "/bin/ls"],
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stdout[:300]
    assert "not a readable nginx config" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_php_fpm_oom_kill_a_minute_before_segfaults_is_not_their_cause(tmp_path: Path) -> None:
    """A ``php-fpm8.2`` OOM kill a minute before the errors, tied to the pool by its name only,
    does not explain resets the FPM log shows as SIGSEGV deaths (analyzers.identity: a name match
    needs the failures within seconds).  The wording for a proved kill a minute apart is checked
    in tests/diagnose/test_diagnose_true_cause.py."""
    kern = tmp_path / "kern.log"
    kern.write_text(FPM_OOM.replace("21:13:43", "21:12:44"), encoding="utf-8")
    report = diagnose(kern)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert findings[0]["cause"] == "backend-crashed", [f["cause"] for f in findings]
    assert "backend-oom-killed" not in [f["cause"] for f in findings]


def test_an_oom_kill_in_another_systemd_unit_is_not_the_backend() -> None:
    """Same process name is not the same program: a ``python3`` OOM-killed in celery.service does
    not explain resets from the ``python3`` gunicorn.service listening on the target (it was named
    with 95 % confidence by the process name alone). Typed evidence: the CLI cannot get unit
    names offline."""
    from dataclasses import replace
    from datetime import datetime, timedelta

    from tests.support.evidence import evidence
    from why502.analyzers.rank import run_all
    from why502.evidence.events import event_from_text
    from why502.evidence.model import Sample, SymptomGroup
    from why502.facts.net import Listener

    t0 = datetime(2026, 5, 1, 8, 15, 31)
    times = tuple(t0 + timedelta(seconds=i) for i in range(3))
    resets = SymptomGroup(symptom="connection-reset", peer="127.0.0.1:8080", count=3,
                          first=times[0], last=times[-1], statuses={502: 3}, times=times,
                          samples=(Sample("recv() failed (104: Connection reset by peer)",
                                          "/var/log/nginx/error.log", 10, times[0]),))
    kill = event_from_text(
        "oom-kill", "2026-05-01T08:15:30.201514+00:00 host kernel: Out of memory: Killed process "
        "412 (python3) total-vm:1716580kB, anon-rss:1461342kB, file-rss:0kB, shmem-rss:0kB, "
        "UID:33 pgtables:3371kB oom_score_adj:0", source="kernel", time=t0 - timedelta(seconds=1))
    assert kill is not None
    listener = Listener("tcp", "127.0.0.1", 8080, pid=2001, process="python3")
    base = evidence(symptoms=(resets,), listeners=(listener,),
                    target_units={"127.0.0.1:8080": "gunicorn.service"},
                    events=(replace(kill, unit="celery.service"),))
    causes = [f.cause for f in run_all(base)[0]]
    assert causes and causes[0] == "backend-crashed", causes
    same_unit = replace(base, logs=replace(base.logs, events=(replace(kill, unit="gunicorn.service"),)))
    assert run_all(same_unit)[0][0].cause == "backend-oom-killed"
