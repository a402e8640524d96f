"""``stats``' native fold of Envoy's text access lines (default and Istio formats;
``proxies/envoy/_envoyscan.c``'s ``text_fold_*``, ``proxies/envoy/textfold.py``): the lines the text
reader's regex takes without doubt are counted in C by its raw captures, each group decided by the
reader's own expressions -- the ``stats`` document must not change, whichever side counted a line.

Compared, as the whole ``stats --format json`` document: the fold, the native passes with the fold
turned off (every line a row of the vectorised reader) and the polars-only readers
(``WHY502_NATIVE=0``), on every recorded and published Envoy and Istio text line, on those lines
bent where the pass must hand a line back or read it as the regex does, on the bench's lines read
in small blocks whose groups are taken many times, and through the command.  The pass's reading
of a line is also held to the regex's own, capture by capture, on the corpus and on random
mutations of it.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import RunMain
from tests.stats import test_lb_fold as lb_fold
from tests.stats.test_json_native import _lines as _edge_lines
from tests.stats.test_lb_fold import _mode
from tests.support import blocks
from tests.support.kubectl_heads import FRAMINGS, NOT_FRAMINGS
from tests.support.native import native_pass
from why502.app.stats import lb as lb_app
from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.wrappers import kubectl_unframed
from why502.proxies.envoy.frame import ENVOY_RX

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.proxies.envoy._envoyscan", "the native Envoy text pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

FIXTURES = ROOT / "tests" / "fixtures"


def _recorded_logs() -> list[Path]:
    """The access logs of Envoy and Istio in the fixtures (text, and one of Istio's JSON)."""
    return [p for p in sorted(FIXTURES.rglob("*.log"))
            if ("envoy" in p.name or "istio" in p.name) and "stderr" not in p.name]


def _recorded_text() -> list[str]:
    """Every Envoy and Istio text line recorded or published in the fixtures (the cloud corpus's
    ``line`` fields too)."""
    out: list[str] = []
    for path in _recorded_logs():
        text = path.read_text(encoding="utf-8", errors="replace")
        out += [line for line in text.splitlines() if line.strip()]
    for name in ("envoy.jsonl", "istio.jsonl"):
        for row in (FIXTURES / "cloud" / name).read_text(encoding="utf-8").splitlines():
            if row.strip():
                line = json.loads(row).get("line")
                if isinstance(line, str):
                    out.append(line)
    return out


def _generated(kind: str, n: int, seed: int, rate: float = 20.0) -> list[str]:
    rng = random.Random(seed)
    make = {"envoy": gen_lb_logs.envoy, "istio": gen_lb_logs.istio, "json": gen_lb_logs.envoy_json}[kind]
    return [make(gen_lb_logs.Req(rng, i, rate)) for i in range(n)]


#: where the pass must hand a line back or read it as the regex does: a flag below 500, odd
#: statuses and flags, no three integers, a dashed or empty host, quotes and spaces where the
#: regex's optional parts decide, a cluster after extra quoted fields or none, a time too long
#: for the ranges, bytes the regex reads as Unicode, a brace
_BENDS: tuple[tuple[str, str], ...] = (
    (" 200 - ", " 200 UT "), (" 404 - ", " 404 NR "), (" 0 98 ", " x 98 "), ("] \"", "] \"\"x\" "),
    (" 503 UH ", " 503 UF,URX "), (" 502 UF,URX ", " 502 - "), ('"-"', '"10.0.0.1:80"'),
    (" 200 - ", " 503 - "), (" 200 - ", " 2000 - "), (" 200 - ", " 007 - "), (" 200 - ", " 200 URX "),
    (" 200 - ", " 200 -- "), (" 200 - ", " 200 UF, "), (" 200 - ", " 200 uf "), (" 0 98 ", " 0 98 1 "),
    (" 0 98 ", "  0 98 "), (" 0 98 ", ' - "" 0 98 '), (" 0 98 ", ' via_upstream x "" 0 98 '),
    (" 0 98 ", ' via_upstream x "a b" 0 98 '), (" 0 98 ", ' via_upstream "x" "" 0 98 '),
    (" 0 98 ", ' via"upstream x "" 0 98 '), (" 0 98 ", " via_upstream x \"\" 1 2 3 0 98 "),
    ('" outbound', '" "extra" outbound'), ('" outbound', '" "x"outbound'), ('" outbound', '"  outbound'),
    ('" outbound', '" "unclosed outbound'), ('" outbound', '"outbound'), ('" outbound', '" -'),
    ('" outbound', '" ""'), ("HTTP/1.1\" ", "HTTP/1.1\"  "), ("Z] ", "Z]] "), ("Z] ", "Z] x "),
    ("T", "t"), ("Z] ", "Z with a time far too long for the ranges to keep as it is written here] "),
    ("Z] ", "Z\u00e9] "), ("curl", "cu\u00e9rl"), ("curl", "cu\trl"), ("curl", "cu{rl"), ("10.0", "\u0661.0"),
    ('" 0 ', '" \u0660 '), ("HTTP/1.1", "HTTP/1.1\r"), (" 98 ", " 98\u00a0"), ("outbound", "out\tbound"),
    ("outbound", "out\u00a0bound"), ('" outbound', '"\u2003outbound'),
)


def _bent(lines: list[str], seed: int) -> list[str]:
    """Each bend on some lines (and twice on a few), plus lines cut short at odd places."""
    rng = random.Random(seed)
    out = []
    for old, new in _BENDS:
        having = [line for line in lines if old in line]
        for line in rng.sample(having, min(6, len(having))):
            out.append(line.replace(old, new, 1))
            out.append(line.replace(old, new))
    for line in rng.sample(lines, min(60, len(lines))):
        out.append(line[: rng.randrange(1, len(line))])
    return out


def _grid() -> list[str]:
    """Istio lines of every failure flag with details and transport failure reasons that each
    decide a symptom alone (the reason where the details say nothing, and the other way round),
    at several statuses, targets and timings, in time order (``test_every_flag_detail_and_reason``)."""
    flags = ("UF", "UC", "UR", "UPE", "UAEX", "NR", "NC", "URX", "UH", "UT", "DC", "LR", "UF,URX", "-")
    details = ("-", "via_upstream", "direct_response",
               "upstream_reset_before_response_started{connection_termination}",
               "upstream_reset_before_response_started{connection_failure}")
    reasons = ("-", "", "TLS_error:_CERTIFICATE_VERIFY_FAILED", "delayed_connect_error:_111",
               "delayed_connect_error:_Connection_refused", "delayed_connect_error:_113",
               "connection_termination", "headers_too_large", "connection_timeout")
    out = []
    k = 0
    for flag in flags:
        for detail in details:
            for reason in reasons:
                for status in (503, 200, 404, 0):
                    k += 1
                    time = f"2026-11-21T10:{k // 60:02d}:{k % 60:02d}.{k % 1000:03d}Z"
                    ust = k % 13 if k % 5 else "-"
                    out.append(f'[{time}] "GET /x HTTP/1.1" {status} {flag} {detail} - "{reason}" 0 98 '
                               f'{k % 50} {ust} "10.0.0.1" "curl" "id-{k}" "a.example.com" '
                               f'"10.0.{k % 4}.9:8080" outbound|80||s{k % 3}.default.svc.cluster.local '
                               "10.1.0.8:1 10.1.0.8:2 - -")
    return out


def _corpus() -> list[str]:
    recorded = _recorded_text()
    generated = _generated("envoy", 300, 1) + _generated("istio", 300, 2)
    return [*recorded, *_bent(recorded + generated, 3), *generated]


def _write(tmp: Path, lines: list[str], name: str = "envoy.log") -> Path:
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stats(path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, **kw: object) -> str:
    return lb_fold._stats(path, mode, monkeypatch, "envoy", **kw)


def _check(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> dict[str, object]:
    """The fold's document is the rows' (native readers without the fold, polars alone)."""
    return lb_fold._check(path, monkeypatch, "envoy", **kw)


def _folded(lines: list[str]) -> int:
    return blocks.folded("envoy", lines)


@pytest.mark.parametrize("timeout_s", [None, 0.05])
def test_recorded_published_and_bent_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           timeout_s: float | None) -> None:
    """Every recorded and published text line, the bench's, and their bends, with the other
    families' lines (``test_json_native``'s corpus: JSON lines of Envoy's and others', their
    bends) among them; with a timeout, the near/over counts too."""
    lines = _corpus()
    assert _folded(lines) > len(lines) // 2  # the fold counted most of them
    rng = random.Random(4)
    edge = _edge_lines()
    mixed = [*lines, *rng.sample(edge, min(600, len(edge)))]
    rng.shuffle(mixed)  # out of time order, JSON lines mixed in
    got = _check(_write(tmp_path, mixed), monkeypatch, timeout_s=timeout_s)
    assert got["5xx"] and got["by_code"] and got["retries"]["requests"]  # type: ignore[index]
    assert len(got["targets"]) > 3 and len(got["groups"]) > 3  # type: ignore[arg-type]


def test_every_flag_detail_and_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``_grid``'s lines, in time order, with bent ones among them: every decision the reader
    makes of the flags, details and transport failure reason, counted alike -- and the codes of
    one count (the grid's are all ties) ranked alike: in the order of their first lines."""
    lines = _grid()
    assert _folded(lines) == len(lines)
    rng = random.Random(12)
    for k in rng.sample(range(len(lines)), 300):
        old, new = _BENDS[rng.randrange(len(_BENDS))]
        lines[k] = lines[k].replace(old, new, 1)
    got = _check(_write(tmp_path, lines), monkeypatch)
    counts = [code["count"] for code in got["by_code"]]  # type: ignore[attr-defined]
    assert len(counts) > 10 and len(set(counts)) < len(counts)
    assert {code["symptom"] for code in got["by_code"]} >= {  # type: ignore[attr-defined]
        "tls-failure", "connection-refused", "unreachable", "connect-timeout", "premature-close",
        "header-too-big", "upstream-not-configured"}


def test_each_recorded_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each recorded Envoy/Istio log alone (its own first and last times, its own top lists)."""
    logs = _recorded_logs()
    assert len(logs) >= 15
    for path in logs:
        _check(path, monkeypatch)


@pytest.mark.parametrize("kind", ["envoy", "istio"])
def test_generated_lines_in_small_blocks(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's lines (a quarter failing, over three minutes), bent here and there, a tenth
    Envoy's JSON lines, out of time order, an error page pasted in; read 16 KB at a time with
    the groups taken whenever a table holds 40 of them: counts summed across many takes, times
    across blocks, decisions kept across takes."""
    rng = random.Random(9)
    lines = _generated(kind, 4000, 7)
    for k in rng.sample(range(len(lines)), 600):
        old, new = _BENDS[rng.randrange(len(_BENDS))]
        lines[k] = lines[k].replace(old, new, 1)
    lines[::10] = _generated("json", len(lines[::10]), 8)
    blocks.scrambled(lines, rng)
    assert _folded(lines) > 3000
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 40)
    got = _check(path, monkeypatch, batch_bytes=16 << 10, timeout_s=0.05)
    assert got["unparsed"] and got["by_code"]
    # blocks and takes change nothing
    assert got == json.loads(_stats(path, "fold", monkeypatch, timeout_s=0.05))


def test_the_command(tmp_path: Path, run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the command a user types, as JSON and as text: the same output with the native
    passes and without (``WHY502_NATIVE=0``)."""
    path = _write(tmp_path, [*_generated("istio", 1500, 5), *_generated("envoy", 1500, 6), *_recorded_text()])
    monkeypatch.setenv("COLUMNS", "200")
    for fmt in ("json", "text"):
        argv = ("stats", "--log-type", "envoy", str(path), "--format", fmt, "--no-progress")
        with _mode("fold", monkeypatch):
            native = run_main(*argv)
        with _mode("polars", monkeypatch):
            rows = run_main(*argv)
        assert native == rows
        assert "UF" in native[1] or "UH" in native[1]


def _rx(lines: list[str]) -> list[dict[str, str | None] | None]:
    """``ENVOY_RX``'s captures of each line, as the text reader takes them (None: no match); a
    line it refuses as written is read again without kubectl logs' framing
    (``wrappers.kubectl_unframed``), as ``family.parse_line`` and the pass (``rx_framed``) do."""
    rows = _rx_as_written(lines)
    for i, line in enumerate(lines):
        inner = kubectl_unframed(line) if rows[i] is None else None
        if inner is not None:  # (once: "<time> [pod/a/b] " is a time, then a line that is not Envoy's)
            rows[i] = _rx_as_written([inner])[0]
    return rows


def _rx_as_written(lines: list[str]) -> list[dict[str, str | None] | None]:
    m = pl.Series("text", lines, dtype=pl.String).str.extract_groups(ENVOY_RX)
    return [row if row["time"] is not None else None for row in m.to_list()]


def _pass(line: str) -> dict[str, str | None] | None:
    """The native pass's reading of one line: the captures of its groups (None: handed back)."""
    from why502.proxies.envoy.textcount import _module

    module = _module()
    assert module is not None
    cap = module.text_fold_new()
    back, text, taken = module.text_fold_block(cap, (line + "\n").encode())
    if not taken:
        assert len(back) == 4 and text == (line + "\n").encode()  # the one line, handed back
        return None
    (tl, target, group, rows) = module.text_fold_take(cap)
    assert rows == 1
    t, p, g = (arrow_frame(*caps).row(0, named=True) for caps in (tl, target, group))
    assert (t["n"], p["n"], g["n"]) == (1, 1, 1) and t["first"] == t["last"]
    assert all(t[k] == p[k] == g[k] for k in ("code", "flags", "details", "tfr")) and p["ust"] == g["ust"]
    return {"minute": t["minute"], "time": t["first"], "cluster": g["cluster"], **{k: p[k] for k in (
        "code", "flags", "details", "tfr", "uhost", "ust")}}


def _same_reading(lines: list[str]) -> int:
    """The pass takes exactly the printable ASCII lines the regex takes whose time fits its
    ranges, each with the regex's captures.  Returns how many it took."""
    taken = 0
    for line, rx in zip(lines, _rx(lines), strict=True):
        got = _pass(line)
        may = rx is not None and line.isascii() and line.isprintable() and len(rx["time"] or "") <= 48
        assert (got is not None) == may, line  # no line it may not take, and no other line handed back
        if got is None:
            continue
        taken += 1
        assert rx is not None, line
        want = {k: rx[k] for k in ("time", "code", "flags", "details", "tfr", "uhost", "cluster", "ust")}
        assert got == {"minute": (rx["time"] or "")[:16], **want}, line
    return taken


def test_the_pass_reads_each_line_as_the_regex() -> None:
    """Capture by capture, on the corpus: the pass hands back only lines it may not take, and
    reads each line it takes as ``ENVOY_RX`` does (the optional Istio fields tried first, the
    cluster after any number of quoted fields)."""
    lines = _corpus()
    assert _same_reading(lines) > len(lines) // 2


def test_the_pass_reads_framed_lines_as_the_regex_reads_them_unframed() -> None:
    """Lines as ``kubectl logs --timestamps`` (and ``--prefix``) prints them, and heads that are
    no such framing (a month 13, ten fraction digits, a pod in capitals, the two parts swapped):
    the pass takes a framed line exactly when the regex takes the line without the framing, with
    its captures, and hands every other one back.  Before, it handed back every framed line, read
    then line by line (300k lines ~8 s against ~0.7 s plain)."""
    rng = random.Random(28)
    plain = [line for line in _corpus() if line.startswith("[")]
    lines = [head + line for head in FRAMINGS for line in rng.sample(plain, 8)]
    lines += [head + line for head in NOT_FRAMINGS for line in rng.sample(plain, 3)]
    taken = _same_reading(lines)
    framed = sum(1 for line in lines if kubectl_unframed(line) is not None)
    assert taken > len(lines) // 5 and framed > len(lines) // 4


def test_the_pass_reads_mutated_lines_as_the_regex() -> None:
    """Random mutations of recorded lines where the regex's choices are made (quotes, spaces,
    digits, dashes, brackets, commas, capitals): the same reading, line by line."""
    rng = random.Random(21)
    base = [line for line in _recorded_text() if line.startswith("[")]
    alphabet = [" ", '"', '"', "-", "0", "7", "]", "[", ",", "A", "Z", "x", "\t", ""]
    lines = []
    for _ in range(3000):
        line = rng.choice(base)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(line))
            pick = rng.random()
            if pick < 0.4:
                line = line[:at] + rng.choice(alphabet) + line[at:]
            elif pick < 0.7:
                line = line[:at] + line[at + 1:]
            else:
                line = line[:at] + rng.choice(alphabet) + line[at + 1:]
        lines.append(line)
    assert _same_reading(lines) > 500
