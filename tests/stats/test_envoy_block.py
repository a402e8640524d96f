"""Envoy's native block reader (``proxies.envoy.frame.envoy_block``): a raw block of its access
log is read by the native text pass (``_envoyscan.text_columns``: ENVOY_RX's captures) and the
native JSON pass, each on the lines the other hands back, and gives the rows the decoded reader
and the per-line parser give -- on the text lines of ``test_envoy_text_fold`` (recorded,
published, bent where the pass must hand a line back or read it as the regex does, generated,
and every flag, detail and reason), on the JSON lines below, and on both mixed in one block.

The JSON reading's one choice of its own: whether a line has a response-duration key (``%RESPONSE_DURATION%``:
a null, "" or "-" value says no upstream answered, so a 5xx is Envoy's own; an absent key says
nothing), which it answers from the raw block (no line holds the keys' names: none has them).
The mixed corpus of ``test_json_native`` sends a block of mostly other families' lines back to
the decoded reader, so here the block is Envoy's own lines: the published and recorded ones and
the same lines with each response-duration key absent, null, empty, "-" or a number.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.stats import test_envoy_text_fold as text_fold
from tests.stats.test_lb_frames import _corpus, _frame_agrees
from tests.support import blocks
from tests.support.native import native_pass
from why502.app.stats import lb
from why502.proxies.envoy import frame as envoy
from why502.proxies.envoy.keys import RESPONSE_DURATION_KEYS
from why502.proxies.logfamilies import families

BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")

_FORMS = (None, "", "-", "12")  # a response-duration key's values (None: JSON null)


def _envoy_json_lines() -> list[str]:
    """The corpus' JSON lines Envoy's parser reads, and each with every response-duration form."""
    fams = families()
    own = [x for x in _corpus() if x.startswith("{")
           and (rec := fams.parse_line(x, "envoy")) is not None and rec.family == "envoy"]
    out = list(own)
    for line in own:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or any(k in obj for k in RESPONSE_DURATION_KEYS):
            continue
        for key in RESPONSE_DURATION_KEYS:
            for form in _FORMS:
                out.append(json.dumps({key: form, **obj}, separators=(",", ":")))
    return out


def test_the_block_reader_gives_the_decoded_readers_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _envoy_json_lines()
    assert len(lines) > 200
    got = _compared(lines, monkeypatch, blocks.spied(monkeypatch, envoy, "envoy_block"))
    # and a response-duration key's emptiness made some 5xx Envoy's own
    made = got.frame.filter(pl.col("status") >= 500)["made_by"].value_counts()
    assert set(made["made_by"].to_list()) >= {"lb", "backend"}


def _text_lines() -> list[str]:
    return [*text_fold._corpus(), *text_fold._grid()]


def _records_agree(lines: list[str]) -> int:
    return blocks.records_agree(envoy.envoy_block, envoy.envoy_frame, lines)


def _compared(lines: list[str], monkeypatch: pytest.MonkeyPatch, read: list[int]) -> lb._Converted:
    """``stats``' rows of ``lines`` through the block reader, held equal to the decoded reader's
    without the native passes, then its records to ``envoy_frame``'s; ``read`` (filled by a spy
    on the pass under test) says the pass itself read most lines, not the decoded fallback."""
    ref = blocks.rows("envoy", lines, "0", monkeypatch, block=False)
    got = blocks.rows("envoy", lines, "1", monkeypatch, block=True)
    assert read and read[0] > len(lines) // 2, read
    blocks.same(got, ref)
    monkeypatch.undo()
    assert _records_agree(lines) > len(lines) // 2
    return got


def test_the_text_pass_gives_the_decoded_readers_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Envoy's and Istio's text lines: the text pass reads the plain ones (most of them), hands
    back the bent ones it cannot read as the regex does, and the rows are the decoded reader's."""
    lines = _text_lines()
    assert len(lines) > 1500
    _compared(lines, monkeypatch, blocks.spied_pass(monkeypatch, envoy, "_text_pass", "text_columns"))


@pytest.mark.parametrize("first", ["json", "text"])
def test_a_block_of_both_formats(first: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON and text lines interleaved: each pass reads its own, whichever the block starts with."""
    js, text = _envoy_json_lines(), _text_lines()
    mixed = [x for pair in zip(js, text, strict=False) for x in pair]
    if first == "text":
        mixed = mixed[1:]
    ref = blocks.rows("envoy", mixed, "0", monkeypatch, block=False)
    got = blocks.rows("envoy", mixed, "1", monkeypatch, block=True)
    blocks.same(got, ref)
    native = envoy.envoy_block("\n".join(mixed).encode())
    assert native is not None
    frame, back = native
    assert frame.height > len(mixed) * 2 // 3 and len(back) < len(mixed) // 3
    assert _records_agree(mixed) == frame.height


def test_a_null_response_duration_is_read_from_the_block() -> None:
    """The key present with null is no upstream answer (the 5xx is Envoy's); absent says nothing."""
    base = {"response_code": 503, "response_flags": "-", "response_code_details": "via_upstream",
            "start_time": "2026-11-21T10:00:00.000Z", "upstream_host": "10.0.0.1:80", "duration": 3}
    lines = [json.dumps({**base, "response_duration": None}), json.dumps(base),
             json.dumps({**base, "responseDuration": "-"}), json.dumps({**base, "targetDuration": 12})
             .replace("12", '"12"')]
    got = envoy.envoy_block("\n".join(lines).encode())
    if got is None:
        pytest.skip("the native JSON pass is off")
    frame, back = got
    assert back == []
    assert frame["made_by"].to_list() == ["lb", "backend", "lb", "backend"]
    assert _frame_agrees("envoy", lines) == 4


def test_diagnose_reads_an_envoy_json_log_through_the_block_reader(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's command: ``diagnose --access-log`` on an Envoy JSON log gives the same report
    with the native passes on and off."""
    import subprocess
    import sys

    from tests.support.reports import without_timing

    log = tmp_path / "access.log"
    log.write_text("\n".join(_envoy_json_lines() * 3) + "\n", encoding="utf-8")
    docs, codes = [], []
    for native in ("1", "0"):
        env = {"WHY502_NATIVE": native, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        argv = [sys.executable, "-m", "why502", "diagnose", "--offline", "--access-log", str(log),
                "--format", "json"]
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert run.stdout, run.stderr
        docs.append(without_timing(json.loads(run.stdout)))
        codes.append(run.returncode)
    assert docs[0] == docs[1] and codes[0] == codes[1]
    assert docs[0]["findings"], docs[0]
