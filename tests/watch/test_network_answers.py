"""Hostile HTTP answers (a real HTTP server on loopback, the lab's ``backend.py`` in its
hostile-answer modes) to `why502 fleet` (Prometheus's API) and to watch's Alertmanager sender:
every answer is read within bounds of time, bytes, depth and series, and anything else than an
instant vector is one line, exit 3.  Each test fails without its guard in
``why502.sources.netread`` / ``why502.app.fleet``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import why502
from tests.support.limits import peak_rss_mb
from why502.app.watch.alerts import AlertSender, alert_of
from why502.app.watch.incidents import Incident
from why502.findings.model import Diagnostic
from why502.lab.runtime import Stack

pytestmark = pytest.mark.real


def strict(text: str) -> Any:
    """JSON as every strict parser reads it (no NaN/Infinity)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in the output: not JSON")

    return json.loads(text, parse_constant=refuse)


def one_line_error(out: Any) -> str:
    assert out.returncode == 3, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return str(lines[0])


def test_a_trickling_answer_ends_at_the_total_deadline() -> None:
    """One byte every 0.5 s: each read gets data in time, so a per-read timeout never fires (5
    queries x ~60 bytes x 0.5 s = 150 s before; the 120 s of ``why502()`` fail the test)."""
    with Stack() as stack:
        b = stack.add_backend("trickle", delay=0.5)
        out = why502("fleet", "--prometheus", f"http://{b.address}", "--timeout", "2")
    assert "no complete answer within 2 s" in one_line_error(out)


def test_a_million_series_are_refused_while_they_arrive() -> None:
    """1M series (~85 MB, streamed without Content-Length): refused past 8 MiB, memory bounded
    (whole: 1.3 GB and 30 s before)."""
    with Stack() as stack:
        b = stack.add_backend("series", count=1_000_000)
        code, peak = peak_rss_mb(["fleet", "--prometheus", f"http://{b.address}"], timeout=100)
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    assert code == 3
    assert peak < 150, f"{peak:.0f} MiB"
    assert "more than the 8,388,608 bytes allowed" in one_line_error(out)


def test_a_content_length_over_the_bound_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"status":"success","data":{"resultType":"vector","result":[]},"pad":"'
                    + b"x" * (9 << 20) + b'"}')
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(big))
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    assert f"the answer is {big.stat().st_size:,} bytes" in one_line_error(out)


def test_more_series_than_allowed_are_refused(tmp_path: Path) -> None:
    body = tmp_path / "many.json"
    one = '{"metric":{},"value":[1,"1"]}'
    body.write_text('{"status":"success","data":{"resultType":"vector","result":['
                    + ",".join([one] * 100_001) + "]}}")
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(body))
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    assert "returned 100,001 series, more than the 100,000 allowed" in one_line_error(out)


def test_the_queries_asked_at_once_are_decoded_one_at_a_time(tmp_path: Path) -> None:
    """fleet fetches its queries in parallel; the worst answer within the byte bound (8 MiB of
    minimal series, ~215 MiB once decoded) given to every query must cost one decode, not one
    per query (7 decoding threads: ~1.5 GB)."""
    body = tmp_path / "worst.json"
    one = '{"metric":{},"value":[1,"1"]},'
    count = ((8 << 20) - 200) // len(one)
    body.write_text('{"status":"success","data":{"resultType":"vector","result":['
                    + one * (count - 1) + one[:-1] + "]}}")
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(body))
        code, peak = peak_rss_mb(["fleet", "--prometheus", f"http://{b.address}"], timeout=100)
    assert code == 3
    assert peak < 450, f"{peak:.0f} MiB"


def test_deep_nesting_is_one_line_not_an_internal_error() -> None:
    """100,000 nested arrays: json.loads raised RecursionError (exit 4) before the depth check."""
    with Stack() as stack:
        b = stack.add_backend("deep", count=100_000)
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    assert "nested deeper than 32 levels" in one_line_error(out)


WRONG = {
    "metric is text": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": "web1", "value": [1, "1"]}]}},
    "value is a number": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "web1"}, "value": 3}]}},
    "label is a list": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": ["web1"]}, "value": [1, "1"]}]}},
    "series is a number": {"status": "success", "data": {"resultType": "vector", "result": [1]}},
    "data is a list": {"status": "success", "data": []},
    "result is an object": {"status": "success", "data": {"resultType": "vector", "result": {}}},
    "a matrix": {"status": "success", "data": {"resultType": "matrix", "result": []}},
    "not an object": [1, 2],
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrongly_typed_answers_are_one_line(tmp_path: Path, name: str) -> None:
    body = tmp_path / "answer.json"
    body.write_text(json.dumps(WRONG[name]))
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(body))
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    line = one_line_error(out)
    assert line.startswith(f"why502: Prometheus http://{b.address}:"), line


def test_a_nan_constant_in_the_answer_is_refused(tmp_path: Path) -> None:
    """``NaN`` bare in the JSON is not JSON (Python's json.loads takes it by default)."""
    body = tmp_path / "answer.json"
    body.write_text('{"status": "success", "data": {"resultType": "vector", "result": [], "x": NaN}}')
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(body))
        out = why502("fleet", "--prometheus", f"http://{b.address}")
    assert "NaN is not JSON" in one_line_error(out)


def test_nan_and_inf_rates_are_null_in_strict_json(tmp_path: Path) -> None:
    """Prometheus writes sample values as strings, "NaN" and "+Inf" included: the output says
    null (``NaN`` before: invalid JSON), the text shows "-"."""
    body = tmp_path / "answer.json"
    body.write_text(json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "web1:9502"}, "value": [1.5, "NaN"]},
        {"metric": {"instance": "web2:9502"}, "value": [1.5, "+Inf"]}]}}))
    with Stack() as stack:
        b = stack.add_backend("answer", body_file=str(body))
        out = why502("fleet", "--prometheus", f"http://{b.address}", "--format", "json")
        text = why502("fleet", "--prometheus", f"http://{b.address}")
    hosts = strict(out.stdout)["hosts"]
    assert {h["instance"]: (h["errors_5xx_per_s"], h["requests_per_s"]) for h in hosts} == {
        "web1:9502": (None, None), "web2:9502": (None, None)}
    assert "nan" not in text.stdout.lower() and "inf " not in text.stdout.lower()
    assert "web1:9502" in text.stdout


def test_unreachable_and_bad_timeout_are_one_line() -> None:
    with Stack() as stack:
        b = stack.add_backend("ok")
        port = b.port
        stack.stop_process(b.process)
    out = why502("fleet", "--prometheus", f"http://127.0.0.1:{port}")
    assert "refused" in one_line_error(out).lower()
    bad = why502("fleet", "--prometheus", "http://127.0.0.1:9", "--timeout", "nan")
    assert bad.returncode == 2 and "--timeout" in bad.stderr


def test_a_trickling_alertmanager_cannot_hold_the_sender() -> None:
    """The Alertmanager post has the same total deadline: one byte a second of its answer (~60 s
    with a per-read timeout) ends at the sender's 2 s, as one failure to retry."""
    notes: list[Diagnostic] = []
    with Stack() as stack:
        b = stack.add_backend("trickle", delay=1.0)
        sender = AlertSender(f"http://{b.address}", "web1", notes.append, timeout=2.0)
        alert = alert_of(Incident(id="i1", opened="2026-11-23T09:00:00", opened_at=0.0,
                                  trigger=["x"], cause="backend-not-running", fix="-"), "web1")
        done: list[bool] = []
        t = threading.Thread(target=lambda: done.append(sender._post([alert])), daemon=True)
        t.start()
        t.join(30)
        finished = list(done)  # before the stack stops the server (which ends any read)
    assert finished == [False], "the post still waited for the trickled answer after 30 s"
    assert sender.failures == 1 and "no complete answer within 2 s" in notes[0].message
