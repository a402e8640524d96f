"""``why502 stats`` on cloud load balancer and proxy logs: the family is detected from the
content, and the 5xx are split by who made them exactly as the fixtures' expectations say
(published AWS/Cloudflare/Istio lines, logs recorded from a real Envoy, Caddy and Traefik)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import RunMain

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"
REC = CLOUD / "recorded"


def _published(tmp_path: Path, family: str, gz: bool = False) -> tuple[Path, list[dict[str, object]]]:
    rows = [json.loads(r) for r in (CLOUD / f"{family}.jsonl").read_text(encoding="utf-8").splitlines()]
    text = "".join(str(r["line"]) + "\n" for r in rows)
    path = tmp_path / (f"{family}.log.gz" if gz else f"{family}.log")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path, [dict(r["expect"]) for r in rows]


def _expected_made_by(expects: list[dict[str, object]]) -> Counter[str]:
    return Counter(str(e["made_by"]) for e in expects
                   if isinstance(e["status"], int) and e["status"] >= 500)


def _recorded_expects(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(r) for r in (path.parent / "expect.jsonl").read_text().splitlines()]
    return [r for r in rows if r["file"] == path.name]


def _stats(run_main: RunMain, *args: str) -> dict[str, object]:
    code, out, err = run_main("stats", *args, "--format", "json")
    data = json.loads(out)
    assert isinstance(data, dict)
    assert code == (1 if sum(data["made_by"].values()) else 0), err  # 1: a 5xx was answered
    return data


@pytest.mark.parametrize(
    ("rel", "family"),
    [
        ("envoy/envoy-default.log", "envoy"),
        ("envoy/envoy-istio-text.log", "envoy"),
        ("envoy/envoy-istio-json.log", "envoy"),
        ("caddy-2.6.2-debian/caddy-access.log", "caddy"),
        ("caddy-2.11.7-pypi/caddy-access.log", "caddy"),
        ("traefik-json/traefik-access-json.log", "traefik"),
        ("traefik-common/traefik-access-common.log", "traefik"),
    ],
)
def test_recorded_logs_who_made_the_5xx(run_main: RunMain, rel: str, family: str) -> None:
    path = REC / rel
    data = _stats(run_main, str(path))
    assert data["log_type"] == family
    want = _expected_made_by(_recorded_expects(path))
    made = data["made_by"]
    assert isinstance(made, dict)
    assert {k: v for k, v in made.items() if v} == dict(want)
    assert data["5xx"] == sum(want.values())


@pytest.mark.parametrize("family", ["alb", "elb", "cloudflare"])
def test_published_lines_who_made_the_5xx(run_main: RunMain, tmp_path: Path, family: str) -> None:
    path, expects = _published(tmp_path, family)
    data = _stats(run_main, str(path))
    assert data["log_type"] == family
    made = data["made_by"]
    assert isinstance(made, dict)
    assert {k: v for k, v in made.items() if v} == dict(_expected_made_by(expects))


def test_alb_folder_of_gz_files_and_forced_type(run_main: RunMain, tmp_path: Path) -> None:
    folder = tmp_path / "AWSLogs" / "123456789012" / "elasticloadbalancing" / "us-east-2" / "2018" / "07"
    folder.mkdir(parents=True)
    _published(folder, "alb", gz=True)
    data = _stats(run_main, str(tmp_path / "AWSLogs"), "--log-type", "alb")
    assert data["requests"] == 11
    assert data["by_code"][0]["code"] == "LambdaInvalidResponse"  # type: ignore[index]
    timings = data["timings"]
    assert isinstance(timings, dict)
    assert timings["timeout"]["seconds"] == 60.0


@pytest.mark.parametrize("cloudtrail", [0, 40])
def test_alb_log_tree_with_aws_test_file_is_sniffed_as_alb(run_main: RunMain, tmp_path: Path,
                                                           cloudtrail: int) -> None:
    """Elastic Load Balancing writes ``AWSLogs/<account>/ELBAccessLogTestFile`` (one line, no
    record) when access logs are enabled, and a bucket shared with CloudTrail holds
    ``AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/*.json.gz``: both sort before
    ``elasticloadbalancing/``.  A tree synced from the bucket is still read as ALB's, by
    ``stats`` and ``diagnose`` alike, with no flag (the other files' lines counted as lines no
    reader took), from the folder or from the bucket's root above it."""
    account = tmp_path / "bucket" / "AWSLogs" / "123456789012"
    folder = account / "elasticloadbalancing" / "us-east-2" / "2018" / "07"
    folder.mkdir(parents=True)
    _published(folder, "alb", gz=True)
    (account / "ELBAccessLogTestFile").write_text(
        "Enable AccessLog for ELB: my-loadbalancer at 2018-07-02T10:14:26.531Z\n", encoding="utf-8")
    for k in range(cloudtrail):  # (one region a day, as many as the sniff's bound and more)
        day = account / "CloudTrail" / f"us-east-{1 + k % 2}" / "2018" / "07" / f"{1 + k // 2:02d}"
        day.mkdir(parents=True, exist_ok=True)
        with gzip.open(day / f"123456789012_CloudTrail_us-east-1_20180701T0000Z_{k}.json.gz", "wt") as fh:
            fh.write(json.dumps({"Records": [{"eventVersion": "1.08", "eventName": "ListBuckets"}]}))
    for root in (tmp_path / "bucket" / "AWSLogs", tmp_path / "bucket"):
        data = _stats(run_main, str(root))
        assert data["requests"] == 11 and data["log_type"] == "alb", data
        code, out, err = run_main("diagnose", "--access-log", str(root), "--format", "json")
        assert code == 1 and json.loads(out)["findings"], (code, out[-500:], err)


def test_envoy_groups_timeout_and_retries(run_main: RunMain) -> None:
    data = _stats(run_main, str(REC / "envoy/envoy-istio-json.log"), "--lb-timeout", "2")
    groups = {g["group"]: g for g in data["groups"]}  # type: ignore[attr-defined]
    assert groups["dead"]["5xx_lb"] == 2 and groups["dead"]["retried"] == 1
    assert groups["status502"]["5xx_backend"] == 1
    # the /overflow requests waited 2 s and 4 s on a 2 s timeout
    assert groups["overflow"]["near_timeout"] == 2
    codes = {c["code"]: c for c in data["by_code"]}  # type: ignore[attr-defined]
    assert codes["UH"]["cause"] == "all-upstreams-down"
    assert codes["UT"]["proxy_status"] == "http_response_timeout"


def test_text_output_and_csv(run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    code, out, _ = run_main("stats", str(REC / "envoy/envoy-default.log"))
    assert code == 1  # 5xx were answered
    assert "made by Envoy itself 9, by the backend 1" in out
    code, out, _ = run_main("stats", str(REC / "envoy/envoy-default.log"), "--format", "csv")
    assert out.splitlines()[0] == "minute,requests,5xx_lb,5xx_backend"


def test_wrong_forced_type_is_one_line_error(run_main: RunMain) -> None:
    log = str(REC / "envoy/envoy-default.log")
    code, _, err = run_main("stats", log, "--log-type", "alb")
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert f"no alb request line in {log} (first lines: {log}:1: " in err
    assert err.rstrip().endswith("is --log-type alb the log's format?")


def test_no_request_line_is_said_in_one_wording_by_every_command(run_main: RunMain, tmp_path: Path) -> None:
    """``stats``, ``classify`` and ``diagnose`` of a file with no line of the ``--log-type`` they
    were given: exit 3, one line, the same words (``app.stats.lb.no_request_line``)."""
    log = tmp_path / "notes.txt"
    log.write_text("hello world\nnot a log line at all\n", encoding="utf-8")
    said = []
    commands = (("stats", str(log)), ("classify", str(log)),
                ("diagnose", "--offline", "--access-log", str(log)))
    for argv in commands:
        code, _, err = run_main(*argv, "--log-type", "alb")
        assert code == 3 and len(err.strip().splitlines()) == 1, argv
        said.append(err.strip())
    for err in said:
        assert err.startswith(f"why502: no alb request line in {log}")
        assert err.endswith(": is --log-type alb the log's format?")
    assert said[1] == said[2] and "first lines" in said[0]
    code, _, err = run_main("stats", str(REC / "envoy/envoy-default.log"), "--log-type", "haproxy")
    assert code == 2 and "unknown --log-type" in err


def _assert_same_rows(frame: object, lines: list[str], family: str) -> None:
    """Every row of a vectorised reader equals the line parser's record of the same line."""
    import polars as pl

    from why502.parsers.lblogs.batch import RECORD_COLUMNS
    from why502.proxies.logfamilies import families

    parse_line = families().parse_line

    assert isinstance(frame, pl.DataFrame)
    for row in frame.iter_rows(named=True):
        rec = parse_line(lines[row["idx"]], family)
        assert rec is not None
        for col in RECORD_COLUMNS:
            want = rec.failed if col == "failed" else getattr(rec, col)
            got = row[col]
            if isinstance(want, float) and isinstance(got, float):
                assert abs(want - got) < 1e-6, (row["idx"], col)
            else:
                assert got == want, (row["idx"], col, got, want)


def test_alb_vectorised_reader_agrees_with_the_line_parser() -> None:
    import polars as pl

    from why502.parsers.lblogs.batch import alb_frame

    lines = [str(json.loads(r)["line"]) for r in (CLOUD / "alb.jsonl").read_text().splitlines()]
    ok = lines[0]
    lines += [ok.replace(" 0.000 0.001 0.000 200 200 ", " 0.000 -1 -1 502 - ", 1),
              ok.replace(" 0.000 0.001 0.000 200 200 ", " 0.001 60.002 -1 504 - ", 1),
              ok.replace(" 10.0.0.1:80 0.000 0.001 0.000 200 200 ", " - -1 -1 -1 503 - ", 1),
              ok.replace('"10.0.0.1:80" "200"', '"10.0.0.1:80 10.0.0.2:80" "- 200"')]
    frame, rest = alb_frame(pl.Series(lines))
    assert rest.to_list() == [] and frame.height == len(lines)
    _assert_same_rows(frame, lines, "alb")


def test_envoy_vectorised_reader_agrees_with_the_line_parser() -> None:
    import polars as pl

    from why502.proxies.envoy.log import envoy_frame
    from why502.proxies.logfamilies import families

    parse_line = families().parse_line

    lines = [str(json.loads(r)["line"]) for name in ("envoy.jsonl", "istio.jsonl")
             for r in (CLOUD / name).read_text().splitlines()]
    for log in sorted((REC / "envoy").glob("envoy-*.log")):
        lines += log.read_text().splitlines()
    frame, rest = envoy_frame(pl.Series(lines))
    assert frame.height >= 30  # the default and Istio text lines; JSON and prefixed ones are "rest"
    for idx in rest.to_list():
        assert parse_line(lines[idx], "envoy") is not None  # ... and the line parser takes those
    _assert_same_rows(frame, lines, "envoy")


def test_alb_current_trailing_fields_and_retries(run_main: RunMain, tmp_path: Path) -> None:
    """The docs' HTTP entry with the fields AWS appended since (classification,
    classification_reason, conn_trace_id and later ones): read positionally, extra fields ignored
    ("ignore any fields at the end ... that you were not expecting")."""
    ok = str(json.loads((CLOUD / "alb.jsonl").read_text().splitlines()[0])["line"])
    newer = ok + ' "Acceptable" "-" TID_1234abcd "-" "-" "-"'
    retried = newer.replace('"10.0.0.1:80" "200"', '"10.0.0.9:80 10.0.0.1:80" "- 200"')
    log = tmp_path / "alb.log"
    log.write_text(f"{newer}\n{retried}\n", encoding="utf-8")
    data = _stats(run_main, str(log))
    assert data["log_type"] == "alb" and data["requests"] == 2 and data["unparsed"] == 0
    assert data["retries"] == {"requests": 1, "extra_attempts": 1, "still_failed": 0}


def test_cloudflare_origin_timings_next_to_the_proxy_read_timeout(run_main: RunMain, tmp_path: Path) -> None:
    """Current Logpush field names (OriginResponseHeaderReceiveDurationMs, unixnano timestamps)."""
    rows = [
        {"EdgeStartTimestamp": 1732262400000000000 + i * 10**9, "EdgeResponseStatus": status,
         "OriginResponseStatus": origin, "OriginIP": "198.51.100.7", "ClientRequestHost": "example.com",
         "ClientRequestMethod": "GET", "ClientRequestURI": "/report", "RayID": f"8e{i:014x}",
         "OriginResponseHeaderReceiveDurationMs": ms}
        for i, (status, origin, ms) in enumerate([(200, 200, 300), (524, 0, None), (200, 200, 110000)])
    ]
    log = tmp_path / "cf.json"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = _stats(run_main, str(log))
    assert data["log_type"] == "cloudflare"
    assert data["made_by"] == {"lb": 1, "backend": 0, "unknown": 0}
    timings = data["timings"]
    assert isinstance(timings, dict)
    assert timings["timeout"]["seconds"] == 120.0 and timings["timeout"]["near"] == 1
    assert data["by_code"][0]["code"] == "524" and data["by_code"][0]["cause"] == "backend-too-slow"  # type: ignore[index]


def test_caddy_access_and_error_log_together(run_main: RunMain) -> None:
    rec = REC / "caddy-2.11.7-pypi"
    alone = _stats(run_main, str(rec / "caddy-access.log"))
    both = _stats(run_main, str(rec / "caddy-access.log"), str(rec / "caddy.stderr.log"))
    assert alone["made_by"] == both["made_by"]  # the error lines are not requests
    assert alone["by_code"][0]["code"] is None  # type: ignore[index]
    codes = {c["code"]: c["count"] for c in both["by_code"]}  # type: ignore[attr-defined]
    assert codes["connection refused"] == 3 and codes["no upstreams available"] == 1
    assert sum(codes.values()) == 8  # each request Caddy failed counted once
