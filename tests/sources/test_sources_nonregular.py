"""No command hangs on an input that is not a regular file (``sources.opening``).

Real FIFOs (``os.mkfifo``) with a writer that keeps them open, ``/dev/zero``, logs that are
links to ``/dev/stdout``/``/dev/stderr`` as in the official nginx Docker image, a FIFO as a
rotated sibling, ``include /dev/zero;``.  Each run is a real subprocess whose ``timeout`` is the
guard: a hang fails the test with ``TimeoutExpired``, no timing is asserted.  The idle bound is
set to 1 s (``WHY502_STREAM_IDLE_SECONDS``) so a FIFO that goes quiet ends the read quickly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from tests.support.paths import FIXTURES_DIR

CASE = FIXTURES_DIR / "recorded" / "all-upstreams-down"
GUARD = 60  # seconds: far above a bounded run, far below "hangs"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    env["WHY502_STREAM_IDLE_SECONDS"] = "1"
    return subprocess.run([WHY502, *args], capture_output=True, text=True, errors="replace",
                          timeout=GUARD, check=False, env=env, stdin=subprocess.DEVNULL, cwd=cwd)


class Writer:
    """A writer that opens the FIFO (blocking until a reader comes), writes ``data`` and keeps
    it open for ``hold`` more seconds -- the case that made ``read()`` wait forever.  ``error``
    is set if a write failed (a probe that opened and closed the read end breaks the pipe)."""

    def __init__(self, fifo: Path, data: bytes, hold: float = 30.0) -> None:
        self.fifo, self.data, self.hold = fifo, data, hold
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.fifo, "wb", buffering=0) as fh:
                for i in range(0, len(self.data), 4096):
                    fh.write(self.data[i:i + 4096])
                self.done.set()
                self.stop.wait(self.hold)
        except OSError as err:
            self.error = err

    def close(self) -> None:
        self.stop.set()
        if not self.thread.is_alive():
            return
        # still blocked in open(): no reader ever came; give it one so the thread can end
        try:
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self.thread.join(5)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pipe.log"
    os.mkfifo(path)
    yield path


def test_classify_reads_a_fifo_whose_writer_stays_open(fifo: Path) -> None:
    w = Writer(fifo, (CASE / "error.log").read_bytes())
    try:
        proc = run("classify", "--format", "jsonl", str(fifo))
    finally:
        w.close()
    assert w.error is None and w.done.is_set()
    rows = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert proc.returncode == 1 and len(rows) >= 5, proc.stderr
    assert "stopped reading after" in proc.stderr and "no data for 1 s" in proc.stderr


def test_stats_reads_a_fifo_whose_writer_stays_open(fifo: Path) -> None:
    w = Writer(fifo, (CASE / "access.log").read_bytes())
    try:
        proc = run("stats", "--nginx-conf", str(CASE / "nginx.conf"), "--no-error-log", "--format", "json",
                   str(fifo))
    finally:
        w.close()
    d = json.loads(proc.stdout)
    assert d["requests"] == 4, proc.stderr
    assert any("stopped reading after" in n for n in d["notes"])


def test_diagnose_probe_does_not_break_the_writer(fifo: Path) -> None:
    """diagnose checks every named input before reading; for a FIFO that check must not open
    it (closing the read end would kill the writer with EPIPE and lose its lines)."""
    w = Writer(fifo, (CASE / "error.log").read_bytes())
    try:
        proc = run("diagnose", "--offline", "--nginx-conf", str(CASE / "nginx.conf"),
                   "--error-log", str(fifo), "--format", "json")
    finally:
        w.close()
    assert w.error is None, f"the writer was broken: {w.error}"
    d = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert d["findings"], "the lines written into the FIFO were not read"


@pytest.mark.parametrize("argv", [
    ("classify", "/dev/zero"),
    ("stats", "--log-format", "combined", "--no-error-log", "/dev/zero"),
    # -v: the notes in full (the first screen counts them)
    ("diagnose", "-v", "--offline", "--error-log", "/dev/zero", "--nginx-conf", str(CASE / "nginx.conf")),
])
def test_dev_zero_is_read_with_a_bound(argv: tuple[str, ...]) -> None:
    proc = run(*argv)
    assert proc.returncode in (0, 3), proc.stderr  # stats: "no line matches the format" is exit 3
    out = proc.stdout + proc.stderr
    said = "stopped reading after 67108864 bytes" in out.replace("\n", "")  # wrapped at 80 columns
    assert proc.returncode == 3 or said, out[-2000:]


@pytest.mark.parametrize("argv", [("lint", "/dev/zero"), ("render", "/dev/zero"),
                                  ("diagnose", "--offline", "--nginx-conf", "/dev/zero")])
def test_a_device_is_no_config_or_report(argv: tuple[str, ...]) -> None:
    proc = run(*argv)
    assert proc.returncode == 3
    assert "character device" in proc.stderr and len(proc.stderr.splitlines()) == 1


def _docker_like(tmp: Path) -> Path:
    """nginx's Docker image: the logs are links to the standard streams."""
    (tmp / "access.log").symlink_to("/dev/stdout")
    (tmp / "error.log").symlink_to("/dev/stderr")
    conf = (CASE / "nginx.conf").read_text().replace("/lab/logs/", f"{tmp}/")
    (tmp / "nginx.conf").write_text(conf)
    return tmp / "nginx.conf"


def test_diagnose_skips_logs_linked_to_stdout_with_a_note(tmp_path: Path) -> None:
    conf = _docker_like(tmp_path)
    proc = run("diagnose", "--offline", "--nginx-conf", str(conf), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    notes = [d["message"] for d in json.loads(proc.stdout)["diagnostics"]]
    assert any("link to /dev/stdout" in n for n in notes), notes
    assert any("link to /dev/stderr" in n for n in notes), notes


def test_stats_says_why_the_configs_access_log_is_not_read(tmp_path: Path) -> None:
    proc = run("stats", "--nginx-conf", str(_docker_like(tmp_path)))
    assert proc.returncode == 3
    assert "link to /dev/stdout" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_named_link_to_stdout_is_refused(tmp_path: Path) -> None:
    _docker_like(tmp_path)
    for name in ("access.log", "error.log"):
        proc = run("classify", str(tmp_path / name))
        assert proc.returncode == 3 and "standard stream" in proc.stderr


def test_a_fifo_found_as_a_rotated_sibling_is_skipped(tmp_path: Path) -> None:
    shutil.copy(CASE / "error.log", tmp_path / "error.log")
    os.mkfifo(tmp_path / "error.log.1")  # nobody ever writes it: open() would block forever
    proc = run("classify", "--rotated", "--format", "jsonl", str(tmp_path / "error.log"))
    assert proc.returncode == 1, proc.stderr
    assert "error.log.1 is a fifo, not a regular file" in proc.stderr


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_an_include_of_a_device_or_fifo_is_an_error_line(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = str(tmp_path / "fifo")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    include {target};\n    server {{ listen 80; }}\n}}\n")
    # --host: lint reads a named config's absolute includes from this machine only when asked;
    # not read, so not checked whole: exit 3 and INCOMPLETE, never "no findings", exit 0
    # (issue 27; findings.lint.LintReport.unread)
    lint = run("lint", str(conf), "--host")
    assert lint.returncode == 3, lint.stderr
    assert f"cannot read {target}: it is a" in lint.stdout + lint.stderr
    assert "INCOMPLETE" in lint.stdout
    diag = run("diagnose", "--offline", "--nginx-conf", str(conf), "--format", "json")
    notes = [d["message"] for d in json.loads(diag.stdout)["diagnostics"]]
    assert any(f"cannot read {target}" in n for n in notes), notes


def test_a_config_over_the_size_limit_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + "    # padding\n" * 2000 + "}\n")
    env_run = subprocess.run([WHY502, "lint", str(conf)], capture_output=True, text=True, timeout=GUARD,
                             check=False, env={**os.environ, "WHY502_MAX_CONFIG_BYTES": "4096"})
    assert env_run.returncode == 3
    assert "WHY502_MAX_CONFIG_BYTES" in env_run.stderr and len(env_run.stderr.splitlines()) == 1
