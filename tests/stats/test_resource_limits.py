"""Memory ceilings, enforced by the kernel: each command runs in a subprocess under
``RLIMIT_DATA`` (``resource.setrlimit`` in ``preexec_fn``), so a run that needs more memory
fails (an allocation error, exit 4 or an abort) instead of being timed.

Why ``RLIMIT_DATA`` and not ``RLIMIT_AS`` (``ulimit -v``): polars reserves address space it never
touches (thread stacks, allocator arenas, reader prefetch), so the bounded code already needs
more than 1 GB of address space for a 60 MB log and the unbounded code passes 1.4 GB; the
data limit counts the private writable memory a process really asks for (Linux >= 4.7), which
tracks its heap.  The inputs are the shapes that grew without bound, sized so that the
previous code failed each limit (checked against it) while the bounded code passes: a 60 MB
single line, a 160 MB error log joined to an empty access log, 60 MB of unique URIs, hosts
and clients.  Peak RSS on 1 GB inputs: ``bench/rss_table.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.limits import limited

FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$host" rt=$request_time ua="$upstream_addr" us="$upstream_status" '
    'uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"'
)


def _access(i: int) -> str:
    """A 502 with a URI, host and client seen once."""
    return (
        f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255} - - [21/Nov/2026:10:{i // 60000 % 60:02d}:"
        f'{i // 1000 % 60:02d} +0000] "GET /u/{i:x}/{i * 7919:x}?q={i} HTTP/1.1" 502 157 "-" '
        f'"curl/8.5.0" "h{i}.example" rt=0.001 ua="10.0.0.{i % 7}:8080" us="502" uct="-" uht="-" '
        'urt="0.000"\n'
    )


def _error(i: int) -> str:
    return (
        f"2026/11/21 10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d} [error] 7#7: *{i} connect() failed "
        f"(111: Connection refused) while connecting to upstream, client: 10.{i >> 16 & 255}."
        f'{i >> 8 & 255}.{i & 255}, server: s{i % 50}.example, request: "GET /u/{i:x} HTTP/1.1", '
        f'upstream: "http://10.0.0.{i % 7}:8080/u/{i:x}", host: "h{i}.example"\n'
    )


def _write(path: Path, megabytes: int, make: Callable[[int], str]) -> int:
    n = size = 0
    with open(path, "w", encoding="ascii") as fh:
        while size < megabytes << 20:
            block = "".join(make(n + i) for i in range(10_000))
            fh.write(block)
            size += len(block)
            n += 10_000
    return n


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("limits")
    (d / "nginx.conf").write_text(
        f"events {{}}\nhttp {{\n  log_format why502 '{FORMAT}';\n"
        "  server { listen 80; location / { proxy_pass http://10.0.0.1:8080; } }\n}\n"
    )
    with open(d / "long-line.log", "w", encoding="ascii") as fh:
        fh.write("".join(_access(i) for i in range(500)))
        fh.write('10.9.9.9 - - [21/Nov/2026:10:00:01 +0000] "GET /' + "A" * (60 << 20) + '\n')
        fh.write("".join(_access(i) for i in range(500, 1000)))
    (d / "empty.log").write_text("")
    return d


def test_a_60_mb_line_is_cut_under_a_300_mb_limit(inputs: Path) -> None:
    proc = limited(["stats", "--nginx-conf", str(inputs / "nginx.conf"), "--log-format", "why502",
                    "--no-error-log", "--format", "json", str(inputs / "long-line.log")], 300)
    assert proc.returncode == 1, proc.stderr[-500:]
    d = json.loads(proc.stdout)
    assert d["requests"] == 1000 and d["unparsed"] == 1
    assert any("1 line(s) longer than 1 MiB cut" in n for n in d["notes"]), d["notes"]
    diag = limited(["diagnose", "--offline", "--nginx-conf", str(inputs / "nginx.conf"),
                    "--access-log", str(inputs / "long-line.log"), "--error-log",
                    str(inputs / "long-line.log"), "--format", "json"], 300)
    assert diag.returncode in (0, 1), diag.stderr[-500:]


# The two limits below are the figures docs/limits.md states.  They failed once in every
# one-process suite and never alone: the suite had imported polars, whose ``__init__`` writes its
# own allocator defaults into ``os.environ``, and the child took them for the user's setting and
# ran without why502's (``cli.main.allocator_conf``; tests/cli/test_run_settings.py).  Each test
# now gives its child that inherited value on purpose, as any parent that imported polars does.
# Measured alone at a load of 26 on 2 cores: the unique URIs peak at 256-260 MiB of data segment
# (sampled every 5 ms), the error-log join passes a 360 MiB limit.
POLARS_PARENT = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:500,muzzy_decay_ms:1000"}


def test_a_big_error_log_joins_under_a_460_mb_limit(inputs: Path) -> None:
    lines = _write(inputs / "error.log", 320, _error)
    try:
        proc = limited(["stats", "--log-format", "why502", "--error-log", str(inputs / "error.log"),
                        "--format", "json", str(inputs / "empty.log")], 460,
                        env=POLARS_PARENT)
    finally:
        (inputs / "error.log").unlink()
    assert proc.returncode == 0, proc.stderr[-500:]
    assert json.loads(proc.stdout)["errorlog"]["lines"] == lines


def test_unique_uris_hosts_clients_under_a_500_mb_limit(inputs: Path) -> None:
    lines = _write(inputs / "unique.log", 60, _access)
    try:
        proc = limited(["stats", "--log-format", "why502", "--no-error-log", "--format", "json",
                        str(inputs / "unique.log")], 500,
                        env=POLARS_PARENT)
    finally:
        (inputs / "unique.log").unlink()
    assert proc.returncode == 1, proc.stderr[-500:]
    d = json.loads(proc.stdout)
    assert d["requests"] == lines and d["by_status"] == {"502": lines}
    assert any("distinct" in n for n in d["notes"])  # the tables were cut, and say so


@pytest.mark.parametrize("data_mb", [100, 140, 180])
def test_a_run_out_of_memory_ends_and_never_hangs(inputs: Path, data_mb: int) -> None:
    """Under a limit far below what the run needs, polars' allocation fails inside one of its
    threads (Rust aborts the process: ``memory allocation of N bytes failed``, SIGABRT): the
    process must end, never wait on a thread that died.  ``timeout`` in ``limited`` fails the
    test on a hang; the exit is non-zero, with no Python traceback."""
    lines = _write(inputs / "oom.log", 60, _access)
    try:
        proc = limited(["stats", "--log-format", "why502", "--no-error-log", "--format", "json",
                        str(inputs / "oom.log")], data_mb)
    finally:
        (inputs / "oom.log").unlink()
    assert lines and proc.returncode != 0
    # jemalloc may repeat "background thread creation failed" many times: show our own line
    said = [ln for ln in proc.stderr.splitlines() if ln.startswith(("why502", "memory allocation"))]
    assert proc.returncode not in (0, 1, 4), (proc.returncode, said[-3:], proc.stderr[:300])
    assert "Traceback" not in proc.stderr, proc.stderr[-500:]
