"""`why502 stats` against generated logs whose exact truth is known (tests/support/genlog.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.genlog import generate
from tests.support.paths import FIXTURES_DIR
from why502.app.stats import StatsOptions, run_stats
from why502.cli.main import main
from why502.errors import InputError


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gen")
    truth = generate(30_000, out, seed=7, rate=10.0, rotate=3, garbage_every=7_000)
    return out, truth


def _files(out: Path) -> list[str]:
    return [str(out / "access.log"), str(out / "access.log.1"), str(out / "access.log.2.gz")]


@pytest.fixture(scope="module", params=["auto", "chunks"])
def stats(gen: tuple[Path, dict[str, Any]], request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both engines: ``auto`` reads the plain files with polars' streaming scan and the ``.gz``
    with the chunk reader; ``chunks`` reads everything in small chunks with two workers (many
    chunk boundaries, merged out of thread order).  Every test below must hold for both."""
    out, _ = gen
    st, _ = run_stats(
        StatsOptions(
            paths=_files(out),
            config_file=str(out / "nginx.conf"),
            chunk_bytes=256 << 10,
            engine=request.param,
        )
    )
    return st.to_dict()


def test_counts_are_exact(gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]) -> None:
    _, truth = gen
    assert stats["requests"] == truth["requests"]
    assert stats["unparsed"] == truth["unparsed"] > 0
    assert stats["by_status"] == truth["by_status"]
    assert stats["rescued"] == truth["rescued"] > 0
    assert stats["retried"] == truth["retried"]
    assert stats["redirected"] == truth["redirected"] > 0
    assert stats["made_by"] == truth["made_by"]


def test_rotated_set_read_in_time_order(stats: dict[str, Any]) -> None:
    assert [Path(f).name for f in stats["files"]] == ["access.log.2.gz", "access.log.1", "access.log"]
    minutes = [r["minute"] for r in stats["timeline"]]
    assert minutes == sorted(minutes)


def test_timeline_per_minute(gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]) -> None:
    _, truth = gen
    got = {
        r["minute"]: {s: r[s] for s in ("502", "503", "504") if r[s]} for r in stats["timeline"] if r["5xx"]
    }
    assert got == truth["timeline_5xx"]


def test_incidents_found_where_they_were_made(
    gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]
) -> None:
    _, truth = gen
    found = [(i["start"], i["end"]) for i in stats["incidents"]]
    for inc in truth["incidents"]:
        assert any(s <= inc["end"] and e >= inc["start"] for s, e in found), (inc, found)
    assert len(found) == len(truth["incidents"])


def test_per_upstream_attempts_and_timeouts(gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]) -> None:
    _, truth = gen
    ups = {u["address"]: u for u in stats["upstreams"]}
    assert {a: u["attempts"] for a, u in ups.items()} == truth["upstream_attempts"]
    assert {a: u["failed_attempts"] for a, u in ups.items() if u["failed_attempts"]} == truth[
        "upstream_failed_attempts"
    ]
    # timeouts from the generated nginx.conf: proxy_read_timeout 60s, fastcgi_read_timeout 30s
    assert ups["10.0.0.1:8080"]["timeout"] == 60.0
    assert ups["unix:/run/php/php8.2-fpm.sock"]["timeout"] == 30.0
    assert ups["unix:/run/php/php8.2-fpm.sock"]["locations"] == ["www.example.com ~ \\.php$"]
    assert ups["10.0.0.2:8080"]["locations"] == ["api.example.com /api/"]
    assert {a: u["near_timeout"] for a, u in ups.items() if u["near_timeout"]} == truth["near_timeout"]
    # per (upstream, location): the location's own timeout; redirected attempts kept apart
    assert (
        ups["10.0.0.3:8080"]["by_location"]["api.example.com /api/"]["near_timeout"]
        == truth["near_timeout"]["10.0.0.3:8080"]
    )
    php = ups["unix:/run/php/php8.2-fpm.sock"]["by_location"]
    assert php["(after an internal redirect)"]["count"] == 2 * truth["redirected"]
    assert php["www.example.com ~ \\.php$"]["timeout"] == 30.0
    slow = ups["10.0.0.3:8080"]["header_time"]
    assert slow["max"] is not None and 50 <= slow["max"] < 60
    assert slow["p50"] < slow["p95"] <= slow["p99"] <= slow["max"]


def test_error_log_join_gives_each_5xx_a_symptom(
    gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]
) -> None:
    _, truth = gen
    el = stats["errorlog"]
    assert el["matched_5xx"] == truth["made_by"]["nginx"]
    assert el["unmatched_5xx"] == truth["made_by"]["backend"] == el["unmatched_with_backend_header"]
    assert el["by_symptom"] == truth["by_symptom_requests"]
    # the error line's upstream peer never contradicts the access line's last attempt
    assert el["upstream_agrees"] == el["matched_5xx"] == el["host_agrees"]


def test_breakdowns(gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]) -> None:
    _, truth = gen
    assert {h["host"]: h["5xx"] for h in stats["by_host"] if h["5xx"]} == truth["by_host_5xx"]
    uris = {u["uri"] for u in stats["by_uri"]}
    assert "GET /api/v1/users/{id}" in uris and "GET /api/v1/orders/{hash}/items" in uris
    locs = {r["location"]: r["5xx"] for r in stats["by_location"]}
    assert locs["www.example.com ~ \\.php$"] == truth["by_host_5xx"]["www.example.com"]
    assert locs["api.example.com /api/"] == truth["by_host_5xx"]["api.example.com"]


def test_one_worker_and_big_chunks_give_the_same_answer(
    gen: tuple[Path, dict[str, Any]], stats: dict[str, Any]
) -> None:
    out, _ = gen
    st, _ = run_stats(StatsOptions(paths=_files(out), config_file=str(out / "nginx.conf"), workers=1))
    d = st.to_dict()
    for key in ("requests", "by_status", "timeline", "made_by", "rescued", "upstreams", "errorlog"):
        assert d[key] == stats[key], key


def test_since_until(gen: tuple[Path, dict[str, Any]]) -> None:
    out, truth = gen
    from datetime import datetime

    inc = truth["incidents"][0]
    since = datetime.fromisoformat(inc["start"])
    until = datetime.fromisoformat(inc["end"]).replace(second=59)
    st, _ = run_stats(
        StatsOptions(paths=_files(out), log_format="why502", since=since, until=until, no_error_log=True)
    )
    d = st.to_dict()
    want = sum(sum(v.values()) for m, v in truth["timeline_5xx"].items() if inc["start"] <= m <= inc["end"])
    assert d["total_5xx"] == want
    assert all(inc["start"] <= r["minute"] <= inc["end"] for r in d["timeline"])
    # the two newer files end after --until: not read at all (first/last line check)
    assert any("not read" in n and "access.log.1" in n for n in d["notes"])
    assert [Path(f).name for f in d["files"]] == ["access.log.2.gz"]
    assert 0 < d["filtered_out"] < truth["requests"] - d["requests"]


def test_json_and_csv_output(gen: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    out, truth = gen
    assert main(["stats", *_files(out), "--log-format", "why502", "--no-error-log", "--format", "json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["requests"] == truth["requests"] and d["unparsed"] == truth["unparsed"]
    assert d["by_status"] == truth["by_status"]
    assert isinstance(d["timeline"], list) and isinstance(d["upstreams"], list)
    assert main(["stats", *_files(out), "--log-format", "why502", "--no-error-log", "--format", "csv"]) == 1
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "minute,requests,5xx,502,503,504,other_5xx"
    assert sum(int(r.split(",")[2]) for r in rows[1:]) == sum(
        n for s, n in truth["by_status"].items() if s.startswith("5")
    )


def test_text_output_names_the_answers(
    gen: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    out, _ = gen
    assert main(["stats", *_files(out), "--nginx-conf", str(out / "nginx.conf")]) == 1  # 5xx found
    text = capsys.readouterr().out
    for needle in (
        "Status codes",
        "Who made the 5xx",
        "Incident windows",
        "Upstreams",
        "Rescued",
        "connection-refused",
        "read-timeout",
        "10.0.0.3:8080",
    ):
        assert needle in text, needle


def test_text_output_starts_with_the_answer(
    gen: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first line says how many requests failed, with what and made by whom (exact numbers
    from the truth), before any table or input detail."""
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    out, truth = gen
    assert main(["stats", *_files(out), "--nginx-conf", str(out / "nginx.conf")]) == 1  # 5xx found
    lines = capsys.readouterr().out.splitlines()
    five = sum(n for s, n in truth["by_status"].items() if s.startswith("5"))
    assert lines[0].startswith(f"{five:,} of {truth['requests']:,} requests ended in a 5xx")
    for status, n in truth["by_status"].items():
        if status.startswith("5"):
            assert f"{n:,}x{status}" in lines[0]
    assert f"nginx itself {truth['made_by']['nginx']:,}" in lines[0]
    assert f"the backend {truth['made_by']['backend']:,}" in lines[0]
    head = "\n".join(lines[:6])
    assert "worst upstream " in head and "leading error-log symptom: " in head
    assert lines.index(next(ln for ln in lines if ln.startswith("why502 stats:"))) > 2


def test_lines_in_another_format_are_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "access.log"
    log.write_text("this is not\nan access log\n")
    with pytest.raises(
        InputError, match=r"none of the 2 lines of .*access.log matches the log format.*this is not"
    ):
        run_stats(StatsOptions(paths=[str(log)], log_format="combined"))
    assert main(["stats", str(log), "--log-format", "combined"]) == 3
    assert "none of the 2 lines" in capsys.readouterr().err


def test_gzip_only_and_missing_file(tmp_path: Path, gen: tuple[Path, dict[str, Any]]) -> None:
    out, _ = gen
    src = (out / "access.log.1").read_bytes()
    gz = tmp_path / "only.log.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(src)
    a, _ = run_stats(StatsOptions(paths=[str(gz)], log_format="why502", no_error_log=True))
    b, _ = run_stats(StatsOptions(paths=[str(out / "access.log.1")], log_format="why502", no_error_log=True))
    assert a.requests == b.requests > 0 and a.by_status == b.by_status
    with pytest.raises(InputError, match="no such file"):
        run_stats(StatsOptions(paths=[str(tmp_path / "nope.log")]))


def test_logs_in_different_formats_are_folded_together(gen: tuple[Path, dict[str, Any]]) -> None:
    out, truth = gen
    recorded = FIXTURES_DIR / "recorded" / "upstream-returned-5xx" / "access.log"
    st, source = run_stats(StatsOptions(paths=[*_files(out), str(recorded)], no_error_log=True))
    d = st.to_dict()
    assert "guessed: why502" in source and "guessed: upstream_kv" in source
    assert d["requests"] == truth["requests"] + 4
    want = dict(truth["by_status"])
    want["502"] += 4
    assert d["by_status"] == want
    assert d["made_by"]["backend"] == truth["made_by"]["backend"] + 4


def test_counts_stay_exact_beyond_the_kept_5xx_rows(
    gen: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import why502.evidence.stats.accumulator as accumulator

    out, truth = gen
    monkeypatch.setattr(accumulator, "MAX_5XX_ROWS", 100)
    st, _ = run_stats(
        StatsOptions(paths=_files(out), log_format="why502", no_error_log=True, chunk_bytes=64 << 10)
    )
    d = st.to_dict()
    assert d["made_by"] == truth["made_by"]
    assert sum(u["requests_5xx"] for u in d["upstreams"]) == truth["made_by"]["backend"] + truth["made_by"][
        "nginx"
    ] - truth["by_symptom_requests"].get("rate-limited", 0)
    assert any("were counted but not joined" in n for n in d["notes"])


def test_file_and_line_point_at_the_line(stats: dict[str, Any]) -> None:
    """Chunks after the first of a file are numbered from the row counts (the reader does not
    count newlines): every reported file:line must still be the line itself."""
    texts: dict[str, list[str]] = {}

    def line(path: str, n: int) -> str:
        if path not in texts:
            raw = Path(path).read_bytes()
            raw = gzip.decompress(raw) if path.endswith(".gz") else raw
            texts[path] = raw.decode("utf-8", "replace").split("\n")
        return texts[path][n - 1].rstrip("\r")

    assert stats["unparsed_samples"]
    for s in stats["unparsed_samples"]:
        assert line(s["file"], s["line"])[:500] == s["text"]
    assert len(stats["requests_5xx"]) > 50
    for r in stats["requests_5xx"]:
        text = line(r["file"], r["line"])
        assert f'"{r["request"]}" {r["status"]} ' in text, (r, text)
    # past the first 256 KiB chunk of a file, in more than one file
    assert len({r["file"] for r in stats["requests_5xx"] if r["line"] > 3000}) >= 2
