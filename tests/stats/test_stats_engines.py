"""The two ways `why502 stats` reads a file must agree on every input, including hostile ones.

Plain files are read by polars' streaming scan (``sources.scan``: the rows the quote split
rejects are fetched by line number afterwards and re-matched with the whole-line regex);
``.gz`` and stdin by the chunk reader (``sources.byte_chunks``: rejected rows are re-matched
per chunk).  These tests feed the same bytes to both and require identical results, with the
awkward lines a real log can hold: junk lines, blank lines, CRLF endings, bytes that are not
UTF-8 (``escape=json`` writes them raw, ``ngx_http_log_escape()`` only escapes with the default
escaping), values with an escaped quote, and a line longer than a chunk.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.genlog import generate
from why502.app.stats import StatsOptions, run_stats


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("engines")
    truth = generate(12_000, out, seed=11, rate=20.0, garbage_every=5_000)
    return out, truth


def _run(path: Path, engine: str, **kw: Any) -> dict[str, Any]:
    opts = StatsOptions(
        paths=[str(path)],
        log_format=kw.pop("log_format", "why502"),
        no_error_log=kw.pop("no_error_log", True),
        engine=engine,
        **kw,
    )
    st, _ = run_stats(opts)
    d = st.to_dict()
    d.pop("files")
    return d


def _both(path: Path, **kw: Any) -> dict[str, Any]:
    scan = _run(path, "scan", **kw)
    chunks = _run(path, "chunks", chunk_bytes=32 << 10, **kw)
    assert scan == chunks
    return scan


def test_generated_log_same_in_both_engines(generated: tuple[Path, dict[str, Any]]) -> None:
    out, truth = generated
    d = _both(out / "access.log")
    assert d["requests"] == truth["requests"]
    assert d["by_status"] == truth["by_status"]
    assert d["made_by"] == truth["made_by"]
    assert d["unparsed"] == truth["unparsed"] > 0


def test_hostile_lines(
    generated: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Junk, blank, CRLF, a long junk line, an invalid UTF-8 byte near the end (the strict
    scan fails part-way and the file is read again lossily, not counted twice)."""
    out, _truth = generated
    lines = (out / "access.log").read_bytes().split(b"\n")[:-1]
    good = [ln for ln in lines if not ln.startswith(b"garbage")]
    data = bytearray()
    data += b"\n".join(good[:3000]) + b"\n"
    data += b"\n\r\n"  # blank lines (one CRLF): skipped, not unparsed
    data += good[3000] + b"\r\n"  # CRLF
    data += b"x" * (300 << 10) + b"\n"  # one junk line longer than a chunk
    data += b"\n".join(good[3001:9000]) + b"\n"
    bad_utf8 = good[9000].replace(b" HTTP/1.1", b"\xff\xfe HTTP/1.1")
    data += bad_utf8 + b"\n"
    data += b"\x1b]0;evil\x07 not a log line\n"
    data += b"\n".join(good[9001:]) + b"\n"
    path = tmp_path / "access.log"
    path.write_bytes(bytes(data))
    import why502.app.stats.read as app_stats

    scans: list[bool] = []
    real_scan = app_stats.scan_split

    def counted(path: str, columns: int, *, lossy: bool = False) -> Any:
        scans.append(lossy)
        return real_scan(path, columns, lossy=lossy)

    monkeypatch.setattr(app_stats, "scan_split", counted)
    d = _both(path)
    assert scans == [False, True]  # strict UTF-8 failed part-way, then read again lossily
    assert d["requests"] == len(good)
    assert d["unparsed"] == 2
    assert d["lines"] == len(good) + 4  # + the two blank lines and the two junk lines
    samples = {s["line"]: s["text"] for s in d["unparsed_samples"]}
    assert set(samples) == {3004, 9005}
    assert samples[3004] == "x" * 500
    assert "not a log line" in samples[9005]


def test_escaped_quote_in_json_escape_format(tmp_path: Path) -> None:
    """``escape=json`` writes a quote inside a value as ``\\"``: the quote split gives the line
    too many pieces, and the whole-line regex must still read it (both engines)."""
    fmt = (
        'escape=json $remote_addr [$time_local] "$request" $status "$http_user_agent" '
        'ua="$upstream_addr" uht="$upstream_header_time"'
    )
    rows = []
    for i in range(200):
        agent = 'Mozilla \\"quoted\\" 5.0' if i % 7 == 0 else "curl/8.0"
        status = 502 if i % 5 == 0 else 200
        uht = "-" if status == 502 else "0.010"
        when = f"20/Nov/2026:10:{i // 60:02d}:{i % 60:02d} +0100"
        rows.append(
            f'10.0.0.{i % 9} [{when}] "GET /x/{i} HTTP/1.1" {status} '
            f'"{agent}" ua="127.0.0.1:8080" uht="{uht}"'
        )
    path = tmp_path / "access.log"
    path.write_text("\n".join(rows) + "\n")
    d = _both(path, log_format=fmt)
    assert d["requests"] == 200
    assert d["unparsed"] == 0
    assert d["by_status"] == {"200": 160, "502": 40}
    assert d["made_by"] == {"nginx": 40}


def test_gzip_and_plain_copy_agree(generated: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """A gzip file named like a plain one is recognised by its magic bytes (chunk reader)."""
    out, _ = generated
    raw = (out / "access.log").read_bytes()
    plain = json.dumps(_run(out / "access.log", "auto")).replace(str(out), "DIR")
    disguised = tmp_path / "access.log"
    disguised.write_bytes(gzip.compress(raw))
    assert json.dumps(_run(disguised, "auto")).replace(str(tmp_path), "DIR") == plain


def test_msec_times_are_shown_in_the_local_zone(tmp_path: Path) -> None:
    """``$msec`` is epoch seconds; the timeline is in the machine's zone (``tz``), like the
    error log nginx writes next to it (``ngx_localtime()``)."""
    fmt = '$msec $remote_addr "$request" $status'
    t0 = 1_795_600_800.0  # 2026-11-25T08:00:00Z
    rows = [f'{t0 + i * 7.5:.3f} 10.0.0.1 "GET / HTTP/1.1" {502 if i % 4 == 0 else 200}' for i in range(40)]
    path = tmp_path / "access.log"
    path.write_text("\n".join(rows) + "\n")
    for zone in ("Europe/Berlin", "America/New_York"):
        d = _both(path, log_format=fmt, tz=zone)
        first = d["timeline"][0]["minute"]
        from datetime import datetime

        want = datetime.fromtimestamp(t0, ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
        assert first == want
        assert sum(r["requests"] for r in d["timeline"]) == 40
        assert d["by_status"] == {"200": 30, "502": 10}


def test_kept_5xx_rows_spill_to_disk_and_are_cleaned_up(
    generated: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tiny spill blocks the 5xx rows go through temporary IPC files: the result must be
    the same as in memory, and no temporary directory may be left behind."""
    import tempfile

    import why502.sources.spill as spill

    out, truth = generated
    joined = {"no_error_log": False, "error_logs": [str(out / "error.log")]}
    in_memory = _run(out / "access.log", "scan")
    in_memory_joined = _run(out / "access.log", "scan", **joined)
    assert in_memory_joined["errorlog"]["matched_5xx"] > 0
    monkeypatch.setattr(spill, "SPILL_ROWS", 7)
    monkeypatch.setattr(spill.DiskFrames.__init__, "__defaults__", (7,))
    spill_root = tmp_path / "spill"
    spill_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_root))
    written: list[str] = []
    real_flush = spill.DiskFrames._flush

    def flush(self: Any) -> None:
        real_flush(self)
        written.extend(self._files)

    monkeypatch.setattr(spill.DiskFrames, "_flush", flush)
    assert _run(out / "access.log", "scan") == in_memory
    # the join, the breakdowns and the sample are worked out block by block: same answers
    assert _run(out / "access.log", "scan", **joined) == in_memory_joined
    assert written, "no block was written to disk"
    assert list(spill_root.iterdir()) == []
    assert in_memory["total_5xx"] == sum(v for k, v in truth["by_status"].items() if k.startswith("5"))


def test_a_file_named_twice_is_read_once(generated: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The same access log under two names (itself, a symlink) counts once, as one file."""
    out, truth = generated
    link = tmp_path / "alias.log"
    link.symlink_to(out / "access.log")
    st, _ = run_stats(
        StatsOptions(
            paths=[str(out / "access.log"), str(link), str(out / "access.log")],
            log_format="why502",
            no_error_log=True,
        )
    )
    assert st.requests == truth["requests"]
    assert st.files == [str(out / "access.log")]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("request", "GET {path}?q=1 HTTP/1.1"), ("request_uri", "{path}?q=1"), ("uri", "{path}")],
)
def test_location_from_each_request_variable(tmp_path: Path, variable: str, value: str) -> None:
    """The by-location view works whether the log has ``$request``, ``$request_uri`` (raw
    target: normalised as nginx does) or ``$uri`` (already normalised), in both engines."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        """events {}
http {
  upstream app { server 127.0.0.1:9001; }
  server {
    listen 8080; server_name api.test;
    location /api/ { proxy_pass http://app; }
    location ~ \\.json$ { proxy_pass http://app; }
    location / { proxy_pass http://app; }
  }
}
"""
    )
    fmt = (
        f'$remote_addr [$time_local] "${variable}" $status "$host" '
        'ua="$upstream_addr" uht="$upstream_header_time"'
    )
    paths = ["/api/a", "/api//b/../c", "/x.json", "/other"]
    rows = []
    for i in range(40):
        path = paths[i % 4]
        if variable == "uri":
            path = path.replace("//b/..", "")
        rows.append(
            f'127.0.0.1 [20/Nov/2026:10:00:{i:02d} +0100] "{value.format(path=path)}" 502 "api.test" '
            'ua="127.0.0.1:9001" uht="-"'
        )
    log = tmp_path / "access.log"
    log.write_text("\n".join(rows) + "\n")
    results = []
    for engine in ("scan", "chunks"):
        st, _ = run_stats(
            StatsOptions(
                paths=[str(log)],
                log_format=fmt,
                config_file=str(conf),
                no_error_log=True,
                engine=engine,
            )
        )
        results.append({r["location"]: r["5xx"] for r in st.by_location})
    assert results[0] == results[1]
    assert results[0] == {"api.test /api/": 20, "api.test ~ \\.json$": 10, "api.test /": 10}


def test_no_writable_temp_dir_keeps_the_5xx_rows_in_memory(
    generated: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A temporary directory that cannot be created (read-only /tmp, full disk) loses only the
    memory bound, not the answer."""
    import tempfile

    import why502.sources.spill as spill

    out, _ = generated
    expected = _run(out / "access.log", "scan")
    monkeypatch.setattr(spill.DiskFrames.__init__, "__defaults__", (7,))

    def refuse(*_a: Any, **_k: Any) -> str:
        raise PermissionError(13, "Permission denied", "/tmp")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert _run(out / "access.log", "scan") == expected
