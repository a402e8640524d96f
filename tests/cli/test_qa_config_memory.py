"""A config's memory is bounded by the config bound, and running out of memory is said as such.

A config becomes Python objects that take ~60-90x its size: the default bound (4 MiB,
``WHY502_MAX_CONFIG_BYTES``) keeps every command under the 400 MB ceiling on the densest shapes
(checked here on the worst one), a bigger config is refused before it is read with one line that
says what it would cost and how to allow it, and a run that does run out of memory says "out of
memory" -- not that a valid config ended early (crossplane records any exception of its parse as
a config error, and a ``MemoryError``'s text is empty), and not a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.limits import limited, peak_rss_mb
from why502.cli import main as cli
from why502.proxies.nginx.config.load import MAX_CONFIG_BYTES, max_config_bytes


def _servers(n: int) -> str:
    out = ["events {}", "http {"]
    for i in range(n):
        out += [f"  upstream u{i} {{ server 127.0.0.{1 + i % 250}:{10000 + i % 50000}; keepalive 8; }}",
                f"  server {{ listen 80; server_name s{i}.example; location / {{ proxy_pass http://u{i}; }}",
                f"    location /api/ {{ proxy_pass http://u{i}; proxy_read_timeout 5s; }} }}"]
    return "\n".join([*out, "}", ""])


def _empty_locations(size: int, access_log: Path) -> str:
    """The densest shape measured: one empty location a line (~60 MB of memory per MiB), with
    an access log whose requests each go to a location of their own (so diagnose names the
    location of each: one server of 200,000 locations once took the matcher minutes)."""
    head = f"events {{}}\nhttp {{\n access_log {access_log};\n server {{\n  listen 80;\n"
    lines: list[str] = []
    used, i = len(head), 0
    while used < size - 200:
        line = f"  location /{i:x} {{}}\n"
        lines.append(line)
        used += len(line)
        i += 1
    return head + "".join(lines) + " }\n}\n"


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("configs")
    (d / "dense.conf").write_text(_empty_locations(MAX_CONFIG_BYTES, d / "access.log"))
    (d / "access.log").write_text("".join(
        f'127.0.0.1 - - [23/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /{i * 97:x}/p HTTP/1.1" '
        f'{(200, 502, 504)[i % 3]} 12 "-" "curl/8"\n' for i in range(3000)))
    (d / "big.conf").write_text(_servers(21_000))  # ~4.5 MiB: just over the bound (the lint of 40,000
    # servers that proved the same took ~45 s of the suite)
    (d / "error.log").write_text("")
    return d


@pytest.mark.parametrize("value, expected", [
    ("", MAX_CONFIG_BYTES), ("4096", 4096), ("64M", 64 << 20), ("64mib", 64 << 20), ("1G", 1 << 30),
    ("512K", 512 << 10), ("0", MAX_CONFIG_BYTES), ("-5", MAX_CONFIG_BYTES), ("lots", MAX_CONFIG_BYTES),
    ("9" * 40, MAX_CONFIG_BYTES),
])
def test_the_bound_takes_sizes_with_units(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv("WHY502_MAX_CONFIG_BYTES", value)
    assert max_config_bytes() == expected


def test_the_densest_config_within_the_bound_stays_under_400_mb(configs: Path) -> None:
    dense = str(configs / "dense.conf")
    runs = [
        ["diagnose", "--offline", "--nginx-conf", dense, "--error-log", str(configs / "error.log")],
        ["lint", dense, "--format", "sarif"],
        ["lint", dense],
    ]
    for argv in runs:
        code, rss = peak_rss_mb(argv)
        assert code in (0, 1), argv
        assert rss < 400, (argv, rss)


def test_a_config_over_the_bound_is_refused_before_it_is_read(configs: Path) -> None:
    """Under a 200 MB limit: the old 64 MiB bound let a 4.5 MiB config be parsed, which needs
    ~400 MB; now it is one line naming the bound, the memory it would take and the setting."""
    proc = limited(["lint", str(configs / "big.conf")], 200)
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.splitlines()
    assert "at most 4 MiB" in line and "of memory" in line and "WHY502_MAX_CONFIG_BYTES=5M allows it" in line
    again = limited(["lint", str(configs / "big.conf")], 2000, env={"WHY502_MAX_CONFIG_BYTES": "12M"})
    assert again.returncode == 0 and "checked" in again.stdout, again.stderr[-500:]


def test_a_config_that_cannot_fit_the_memory_left_is_refused_before_it_is_parsed(configs: Path) -> None:
    """crossplane turned the MemoryError into an empty parse error, which read as 'unexpected end
    of file' for a config that is fine; and running out half-way through the parse under
    ``ulimit -d`` hung one run of eight for 600 s (CPython spinning while it unwound).  4.5 MiB
    takes at least ~250 MiB: under a 150 MiB limit it is refused before it is parsed, at once."""
    for _ in range(3):
        proc = limited(["lint", str(configs / "big.conf")], 150, env={"WHY502_MAX_CONFIG_BYTES": "12M"},
                       timeout=120)
        assert proc.returncode == 3, proc.stderr[-500:]
        (line,) = proc.stderr.splitlines()
        assert line.startswith("why502: out of memory: reading ") and "this run may take" in line, line
        assert "give it more memory" in line


def test_memory_headroom_reads_the_data_limit() -> None:
    import resource

    from why502.parsers.configread import memory_headroom

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (8 << 30, hard))
        room = memory_headroom()
        assert room is not None and 0 < room <= 8 << 30
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class _Boom(BaseException):
    pass


def _command_raising(monkeypatch: pytest.MonkeyPatch, err: BaseException) -> None:
    import why502.cli.cmd_causes as causes

    def run(args: object) -> int:
        raise err

    monkeypatch.setattr(causes, "run", run)


def test_a_memory_error_is_one_line_and_exit_3(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _command_raising(monkeypatch, MemoryError())
    assert cli.main(["causes"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("why502: out of memory") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("err", [
    OSError(12, "Cannot allocate memory", "/x/src/why502/catalog"),  # what CI saw under RLIMIT_DATA
    RuntimeError("can't start new thread"),
])
def test_a_refused_allocation_is_out_of_memory_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str],
                                                      err: Exception) -> None:
    """The kernel refusing memory to a system call (ENOMEM) or a thread's stack is the machine's
    limit, not a bug: the same line and exit as ``MemoryError``, never "internal error", exit 4."""
    _command_raising(monkeypatch, err)
    monkeypatch.delenv("WHY502_DEBUG", raising=False)
    assert cli.main(["causes"]) == 3
    out = capsys.readouterr().err
    assert out.startswith("why502: out of memory") and out.count("\n") == 1


def test_other_os_errors_stay_internal_errors(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _command_raising(monkeypatch, OSError(5, "Input/output error"))
    monkeypatch.delenv("WHY502_DEBUG", raising=False)
    assert cli.main(["causes"]) == 4
    assert capsys.readouterr().err.startswith("why502: internal error: OSError")


def test_a_polars_panic_is_one_line_and_exit_4(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """pyo3's PanicException is a BaseException: ``except Exception`` let it through as a
    traceback and exit 1, which means "findings"."""
    from polars.exceptions import PanicException

    _command_raising(monkeypatch, PanicException("called `Option::unwrap()` on a `None` value\nat src/x.rs"))
    monkeypatch.delenv("WHY502_DEBUG", raising=False)
    assert cli.main(["causes"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("why502: internal error: PanicException: called `Option::unwrap()`")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_other_base_exceptions_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    _command_raising(monkeypatch, _Boom())
    with pytest.raises(_Boom):
        cli.main(["causes"])


@pytest.mark.parametrize("room, code", [(8 << 20, 3), (None, 4), (1 << 30, 4)])
def test_a_null_without_an_error_is_out_of_memory_only_at_the_limit(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], room: int | None,
        code: int) -> None:
    """``SystemError("error return without exception set")``: a C function's unchecked
    allocation when the process is at its memory limit (exit 3, out of memory), a bug anywhere
    else (exit 4, internal error)."""
    import why502.parsers.configread as configread

    _command_raising(monkeypatch, SystemError("error return without exception set"))
    monkeypatch.delenv("WHY502_DEBUG", raising=False)
    monkeypatch.setattr(configread, "memory_headroom", lambda: room)
    assert cli.main(["causes"]) == code
    out = capsys.readouterr().err
    assert out.startswith("why502: out of memory" if code == 3 else "why502: internal error")


def test_a_failed_scratch_removal_leaves_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The removal of the run's scratch directory runs after the command; a failure there (out
    of memory) must not turn the run's exit code into a traceback's 1."""
    _command_raising(monkeypatch, MemoryError())

    def fail() -> None:
        raise MemoryError

    monkeypatch.setattr(cli, "_remove_scratch", fail)
    assert cli.main(["causes"]) == 3
