"""The edge families' native counters (``parsers/lblogs/counts.py``) count what ``watch`` counted.

``Watch._lb`` hands a block to the family's native counter (the counting entry of ``_albscan.c``
or ``_jsonscan.c``) and reads only the lines it hands back line by line; with ``WHY502_NATIVE=0``
it reads every line as before.  On every recorded and published line of the family, on the
bench's lines and on lines bent at each field, the exported metrics (every ``why502_*`` series
but the ``_created`` and ``seconds`` ones) must be the same both ways; line by line, a line the
counter takes must be counted as ``LogFamilies.parse_line`` reads it; and the counter must take
the plain lines (an equality reached by handing every line back would prove nothing).
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support import watchrun
from tests.support.native import native_pass
from why502.app.watch.engine import WatchOptions
from why502.app.watch.incidents import Rules
from why502.app.watch.metrics import MAX_UPSTREAMS
from why502.parsers.lblogs.counts import BlockCounter, BlockCounts, native_counter
from why502.proxies.logfamilies import families

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
BUILT, pytestmark = native_pass("why502.parsers.lblogs._albscan", "the native ALB pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)


def exported(tmp: Path, lines: list[str], family: str, native: bool,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The metrics ``watch --log-type FAMILY --from-start`` exports once it has read ``lines``
    (native counters on or off), but the ``_created`` and ``seconds`` series."""
    path = tmp / f"{family}-{'native' if native else 'lines'}.log"
    path.write_text("".join(f"{t}\n" for t in lines), encoding="utf-8")
    return watchrun.exported(WatchOptions(access_logs=[str(path)], log_type=family, from_start=True,
                                          offline=True, listen=None, poll_bytes=1 << 16,
                                          rules=Rules(min_requests=10**9, min_failures=10**9)),
                             native, monkeypatch, str(path))


def per_line(family: str, text: str) -> tuple[int | None, tuple[str, str] | None] | None:
    """What ``Watch._lb`` takes of one line read by ``parse_line``: (status, (symptom, target or
    group) of the edge's own failure), None when no reader takes it."""
    rec = families().parse_line(text, family)
    if rec is None:
        return None
    status = rec.status if rec.kind == "access" else None
    failure = ((rec.symptom, rec.target or rec.group or "")
               if rec.failed and rec.made_by == "lb" and rec.symptom else None)
    return status, failure


def counted(counts: BlockCounts) -> tuple[int | None, tuple[str, str] | None]:
    """A one-line block's counts as ``per_line`` says them."""
    assert sum(counts.statuses.values()) <= 1 and sum(counts.failures.values()) <= 1
    status = next(iter(counts.statuses), None)
    failure = next(iter(counts.failures), None)
    return status, failure


def taken(family: str, lines: list[str], count: BlockCounter | None = None,
          ) -> list[tuple[str, tuple[int | None, tuple[str, str] | None]]]:
    """The lines ``family``'s counter (or ``count``) takes, each counted alone (``counted``); a
    line it hands back is handed back whole, with nothing counted of it."""
    count = count or native_counter(families().get(family))
    assert count is not None
    out = []
    for text in lines:
        got = count(f"{text}\n".encode())
        if got.rest:
            assert not got.statuses and not got.failures, text
            assert got.rest == f"{text}\n".encode()
        else:
            out.append((text, counted(got)))
    return out


# -- ALB ----------------------------------------------------------------------------------------

def _alb_published() -> list[str]:
    from tests.stats.test_alb_native import _published

    return _published()


def _alb_corpus() -> list[str]:
    """The published entries, bent at each field (tests/stats/test_alb_native.py), and more
    bends that only the per-line reader's checks meet: a brace, an odd time, an empty error
    reason, a target group named twice."""
    from tests.stats.test_alb_native import _corpus, _fields, _set

    lines = _corpus()
    for base in _alb_published():
        lines += [_set(base, 13, '"{\\"a\\": 1}"').replace("\\", ""), _set(base, 13, '"{"'),
                  _set(base, 1, "2018-07-02T22:23:00Z"), _set(base, 1, "2018-07-02T22:23:00.Z"),
                  _set(base, 1, "2018-07-02 22:23:00.1Z"), _set(base, 1, "x2018-07-02T22:23:00.1Z"),
                  _set(_set(_set(base, 24, '""'), 8, "502"), 9, "-"),
                  _set(_set(base, 24, '""'), 8, "504"),
                  _set(_set(_set(base, 16, "arn:a:targetgroup/a/b:targetgroup/c/d"), 4, "-"), 8, "503")]
        # a brace, then three `"key" :value` for family.json_object's scan of a broken object:
        # Traefik's key, so parse_line(line, "alb") is None (another family's line)
        if len(_fields(base)) >= 26:
            odd = _set(_set(_set(_set(base, 12, '"GET /{ HTTP/1.1"'), 13, '"DownstreamStatus"'),
                            14, ":502"), 19, '"a"')
            odd = _set(odd, 20, ":1") + ' "b" :2'
            lines += [odd, _set(odd, 12, '"GET / HTTP/1.1"')]
    return lines


def _alb_bench(n: int, dense: bool = True) -> list[str]:
    rng = random.Random(7)
    return [gen_lb_logs.alb(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(n)]


def test_the_alb_counter_takes_the_plain_entries() -> None:
    count = native_counter(families().get("alb"))
    assert count is not None
    lines = _alb_published() + _alb_bench(500)
    out = count("".join(f"{t}\n" for t in lines).encode())
    rest = [t for t in out.rest.decode().split("\n") if t]
    whole = [t for t in lines if len(t.split('" "')) > 5 and "\\" not in t and "{" not in t]
    assert len(whole) >= 500
    assert not set(whole) & set(rest), [t for t in whole if t in rest][:3]
    # the ALB's own failures are decided natively (the bench's error_reason words are not in the
    # vocabulary: only its "no-targets" 503s have a symptom, for parse_line too)
    assert sum(out.failures.values()) >= 10


def test_the_alb_counter_counts_each_line_it_takes_as_parse_line() -> None:
    lines = _alb_corpus() + _alb_bench(300)
    assert len(lines) > 4000
    took = taken("alb", lines)
    for text, got in took:
        assert got == per_line("alb", text), text
    assert len(took) > 1000


def test_watch_exports_the_same_alb_metrics_with_the_native_counter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, lines in (("published", _alb_published()), ("bent", _alb_corpus()),
                        ("bench", _alb_bench(3000))):
        native = exported(tmp_path, lines, "alb", True, monkeypatch)
        ref = exported(tmp_path, lines, "alb", False, monkeypatch)
        assert native == ref, (name, {k: (native.get(k), ref.get(k)) for k in native.keys() | ref.keys()
                                      if native.get(k) != ref.get(k)})
        assert any(k.startswith("why502_upstream_failures_total") for k in native) or name != "bench"


def test_the_alb_label_cap_keeps_the_order_of_the_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_UPSTREAMS`` targets, which ones become "other" depends on the order of the
    failures: a block whose failures cross the cap, some taken natively and some handed back,
    is counted as the lines come."""
    base = _alb_bench(1)[0]
    from tests.stats.test_alb_native import _set

    lines = []
    for i in range(MAX_UPSTREAMS + 20):
        line = _set(_set(_set(_set(_set(base, 4, f"10.9.{i // 200}.{i % 200}:80"), 8, "502"), 9, "-"),
                         24, '"-"'), 6, "-1")  # target-unreachable: connect-failed
        lines.append(_set(line, 13, '"a\\b"') if i % 3 == 0 else line)  # an escape: handed back
    native = exported(tmp_path, lines, "alb", True, monkeypatch)
    ref = exported(tmp_path, lines, "alb", False, monkeypatch)
    assert native == ref
    assert any('upstream="other"' in k for k in native)


def test_the_alb_failures_are_those_of_the_vocabulary() -> None:
    """The counter's (code, label) become (symptom, label) through the vocabulary, as
    ``model.resolved`` does; a code without a symptom counts no failure."""
    count = native_counter(families().get("alb"))
    assert count is not None
    lines = _alb_bench(2000)
    out = count("".join(f"{t}\n" for t in lines).encode())
    ref: Counter[tuple[str, str]] = Counter()
    statuses: Counter[int] = Counter()
    for text in lines:
        got = per_line("alb", text)
        assert got is not None
        if got[0] is not None:
            statuses[got[0]] += 1
        if got[1] is not None:
            ref[got[1]] += 1
    assert out.failures == ref
    assert out.statuses == dict(statuses)
    assert json.dumps(sorted(out.failures)) != "[]"


# -- Caddy, Traefik's JSON ---------------------------------------------------------------------

JSON_FAMILIES = ("caddy", "traefik", "cloudflare", "envoy")


def _json_lines() -> list[str]:
    """Every published and recorded edge line, their variants and the JSON bent where a fast
    reader could go wrong (tests/stats/test_json_native.py), and nested status keys and a
    status key named in a string, where the status regex watch used and the parser disagree."""
    from tests.stats.test_json_native import PLAIN, _lines

    lines = _lines()
    for base in (PLAIN["caddy"], PLAIN["traefik"], PLAIN["cloudflare"], PLAIN["envoy"]):
        for name in ("status", "DownstreamStatus", "EdgeResponseStatus", "response_code"):
            key = f'"{name}"'
            lines += [base.replace('{"', '{"x":{' + key + ':404},"', 1),
                      base[:-1] + ',"x":{' + key + ':404}}',
                      base[:-1] + ',"x":' + key + '}',
                      base.replace("502", "200").replace('{"', '{"x":{' + key + ':503},"', 1),
                      # between Caddy's logger and its status: the regex reads this one
                      base.replace('"msg":', '"x":{' + key + ':404},"msg":', 1),
                      base.replace('"msg":', '"x":[{' + key + ':200}],"msg":', 1),
                      # the quoted name at the end of an escaped key (the status regex reads
                      # it: the line is handed back, a key with an escape always is) or value
                      # (counted as an occurrence, ``_jsonscan.c`` ``Once``; no regex reads it)
                      base.replace('{"', '{"a \\' + key + ':404,"', 1),
                      base[:-1] + ',"x":"a \\' + key + '"}',
                      base[:-1] + ',"x":"a \\' + key[:-1] + '\\""}']
    # Caddy's own 503/504 (a symptom each) against the backend's: the size, the headers
    caddy = PLAIN["caddy"]
    for status in ("503", "504", "500"):
        one = caddy.replace('"status":502', f'"status":{status}')
        lines += [one, one.replace('"size":0', '"size":3'), one.replace('"size":0', '"size":null'),
                  one.replace('"Server":["Caddy"]', '"Server":["Caddy"],"Via":["1.1 x"]'),
                  one.replace('"resp_headers":{"Server":["Caddy"]}', '"resp_headers":null'),
                  one.replace('"host":"shop.example.com"', '"host":""')]
    # Envoy: a 5xx with no flag is its own when %RESPONSE_DURATION% is logged empty (a null and
    # an absent key differ); its status, flags, details and targets under their other names
    envoy = PLAIN["envoy"]
    for status, flags in (("503", "UF"), ("503", "-"), ("200", "UT"), ("200", "-"), ("502", ""),
                          ("504", "UT")):
        one = envoy.replace('"response_code":503', f'"response_code":{status}').replace(
            '"response_flags":"UF"', f'"response_flags":"{flags}"')
        for rd in ('null', '""', '"-"', '"12"', None):
            two = one if rd is None else one.replace('"duration":2',
                                                     f'"response_duration":{rd},"duration":2')
            lines += [two, two.replace('"upstream_transport_failure_reason":"delayed_connect_error:_111"',
                                       '"upstream_transport_failure_reason":null'),
                      two.replace('"response_code_details":"',
                                  '"response_code_details":"via_upstream","x":"')]
        lines += [one.replace('"response_code":', '"responseCode":'),
                  one.replace('"response_code":', '"responseCode":"-","status":"200","response_code":'),
                  one.replace('"response_code":', '"responseCode":201,"response_code":'),
                  one.replace('"response_code":', '"status":"-","response_code":"'
                              ).replace(f'"response_code":"{status},', f'"response_code":"{status}",'),
                  one.replace('"upstream_host":', '"upstreamHost":"10.0.0.9:1","upstream_host":'),
                  one.replace('"upstream_cluster":"shop"', '"upstream_cluster":"-","upstreamCluster":"c2"'),
                  one.replace('"response_flags":', '"responseFlags":"UH","response_flags":')]
    # Cloudflare's own answers below 500 (origin status 0: a 429 is "rate-limited") and above
    cf = PLAIN["cloudflare"]
    for edge, origin in (("429", "0"), ("403", "0"), ("429", "429"), ("522", "0"), ("502", "0"),
                         ("200", "0")):
        one = cf.replace('"EdgeResponseStatus":502', f'"EdgeResponseStatus":{edge}').replace(
            '"OriginResponseStatus":502', f'"OriginResponseStatus":{origin}')
        lines += [one, one.replace('"OriginIP":"10.0.0.14"', '"OriginIP":""'),
                  one.replace('"OriginIP":"10.0.0.14",', '')]
    return lines


def _bench_lines(family: str, n: int) -> list[str]:
    import watch_bench

    rng = random.Random(3)
    make = watch_bench.FAMILIES["envoy-json" if family == "envoy" else family][0]
    return [make(rng, i).rstrip("\n") for i in range(n)]


def _family_logs(family: str) -> list[Path]:
    """The recorded access logs of ``family`` (tests/fixtures)."""
    logs = [*FIX.glob(f"cloud/{family}*.log"), *FIX.glob(f"cloud/recorded/{family}*/*access*.log"),
            *(FIX.glob("cloud/recorded/envoy/envoy-*.log") if family == "envoy" else ())]
    assert logs or family == "cloudflare", family  # Cloudflare's: published lines only (cloud/*.jsonl)
    return sorted(logs)


@pytest.mark.parametrize("family", JSON_FAMILIES)
def test_the_json_count_spec_is_the_column_pass_spec(family: str) -> None:
    """Each family's counting spec (``LogFamily.counts``, Cloudflare's ``counts.CLOUDFLARE_COUNTS``)
    holds the column pass's key spec and guards without polars: the same as ``JsonPass.keys``
    of the family's polars schema."""
    from why502.parsers.lblogs import batch
    from why502.parsers.lblogs.counts import CLOUDFLARE_COUNTS
    from why502.proxies.caddy import frame as caddy
    from why502.proxies.envoy import frame as envoy
    from why502.proxies.traefik import frame as traefik

    native, schema = {"caddy": (caddy._NATIVE, caddy.SCHEMA), "traefik": (traefik._NATIVE, traefik.SCHEMA),
                      "cloudflare": (batch._CF_NATIVE, batch.CLOUDFLARE_SCHEMA),
                      "envoy": (envoy._NATIVE, envoy.SCHEMA)}[family]
    fam = families().get(family)
    assert fam is not None
    spec = fam.counts if fam.counts is not None else CLOUDFLARE_COUNTS
    assert spec.family == family
    assert spec.keys == native.keys(schema)
    assert spec.forbidden == native.forbidden
    assert spec.nested_ok == native.nested_ok


@pytest.mark.parametrize("family", JSON_FAMILIES)
def test_the_json_counter_counts_each_line_it_takes_as_parse_line(family: str) -> None:
    """Line by line: a line the counter takes is counted as ``parse_line`` reads it, and as the
    family's status regex (what watch counted before) reads it where it reads one."""
    fam = families().get(family)
    assert fam is not None
    took = taken(family, [*_json_lines(), *_bench_lines(family, 200)])
    for text, got in took:
        assert got == per_line(family, text), text
        for rx in fam.status_patterns:
            m = rx.search(text.encode())
            if m is not None:
                assert int(m.group(1)) == got[0], text
    assert len(took) > 230  # the 200 bench lines, and the published ones


def _plain_cloudflare(text: str) -> bool:
    """A whole JSON record with both statuses (the published ones include redacted values,
    ``"ZoneID":******``, and Logpull records without the origin's status)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    return isinstance(obj, dict) and all(isinstance(obj.get(k), int)
                                         for k in ("EdgeResponseStatus", "OriginResponseStatus"))


@pytest.mark.parametrize("family", JSON_FAMILIES)
def test_the_json_counter_takes_the_plain_lines(family: str) -> None:
    from tests.stats.test_json_native import PLAIN

    count = native_counter(families().get(family))
    assert count is not None
    lines = [PLAIN[family], *_bench_lines(family, 500)]
    if family != "envoy":  # (Envoy's recorded JSON holds nested values, which its guards refuse)
        lines += [t for log in _family_logs(family) for t in log.read_text().splitlines()
                  if ('"DownstreamStatus"' in t or '"http.log.access' in t) and "\\" not in t]  # no escape
    if family == "cloudflare":  # the published records (developers.cloudflare.com, field lines)
        lines += [str(json.loads(row)["line"]) for jsonl in (FIX / "cloud" / "cloudflare.jsonl",)
                  for row in jsonl.read_text().splitlines() if row.strip()]
        lines = [t for t in lines if t.startswith("{") and "\\" not in t and _plain_cloudflare(t)]
    out = count("".join(f"{t}\n" for t in lines).encode())
    assert out.rest == b"", out.rest[:300]
    assert sum(out.statuses.values()) == len(lines)
    if family == "caddy":  # Caddy's own 502 of PLAIN: lb, and no code for a 502
        assert out.statuses[502] >= 1


@pytest.mark.parametrize("family", JSON_FAMILIES)
def test_watch_exports_the_same_json_metrics_with_the_native_counter(
        family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sets = [(log.name, log.read_text(encoding="utf-8", errors="replace").splitlines())
            for log in _family_logs(family)]
    sets += [("bent", _json_lines()), ("bench", _bench_lines(family, 3000))]
    own = 0
    for name, lines in sets:
        native = exported(tmp_path, lines, family, True, monkeypatch)
        ref = exported(tmp_path, lines, family, False, monkeypatch)
        assert native == ref, (name, {k: (native.get(k), ref.get(k)) for k in native.keys() | ref.keys()
                                      if native.get(k) != ref.get(k)})
        own += sum(v for k, v in native.items() if k.startswith("why502_upstream_failures_total"))
    assert own > 0


@pytest.mark.parametrize("family", JSON_FAMILIES)
def test_the_json_counter_takes_lines_behind_kubectl_framing(
        family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kubectl logs --timestamps`` / ``--prefix`` before the JSON: the counter takes a plain
    line behind each real framing and hands back the heads that are none, and ``watch`` exports
    the same metrics both ways on the bench's lines behind every head (before, each framed line
    went back and was read line by line)."""
    from tests.stats.test_json_native import PLAIN
    from tests.support.kubectl_heads import FRAMINGS, HEADS, NOT_FRAMINGS

    count = native_counter(families().get(family))
    assert count is not None
    out = count("".join(f"{head}{PLAIN[family]}\n" for head in HEADS).encode())
    assert sum(out.statuses.values()) == len(FRAMINGS), out.rest[:300]
    assert out.rest.count(b"\n") == len(NOT_FRAMINGS), out.rest[:300]
    lines = [head + t for head in HEADS for t in _bench_lines(family, 300)]
    native = exported(tmp_path, lines, family, True, monkeypatch)
    ref = exported(tmp_path, lines, family, False, monkeypatch)
    assert native == ref, {k: (native.get(k), ref.get(k)) for k in native.keys() | ref.keys()
                           if native.get(k) != ref.get(k)}


def test_traefik_below_500_counts_its_status_only() -> None:
    """Traefik's counting groups the lines below 500 by their status alone: the one code its
    parser gives a request under 500 ("no router", a 404 or no status) has no symptom."""
    from why502.catalog.terms import term

    t = term("traefik", "no router")
    assert t is None or not t.symptom


# -- mutations ---------------------------------------------------------------------------------

def _mutated(lines: list[str], n: int, seed: int) -> list[str]:
    """``n`` lines of ``lines`` with random byte-level damage: a byte flipped, inserted, deleted
    or doubled, the line cut, two lines spliced (log content is hostile)."""
    rng = random.Random(seed)
    alphabet = '{}[]":,\\ -0123456789.eEnulltrf\x00\x01\x7f\xc3\xa9\t\rabc/'
    out = []
    for _ in range(n):
        t = rng.choice(lines)
        for _k in range(rng.randint(1, 3)):
            at = rng.randrange(len(t) + 1)
            op = rng.randrange(6)
            if op == 0 and t:
                t = t[:at] + rng.choice(alphabet) + t[at + 1:]
            elif op == 1:
                t = t[:at] + rng.choice(alphabet) + t[at:]
            elif op == 2:
                t = t[:at] + t[at + 1:]
            elif op == 3:
                t = t[:at] + t[at:at + rng.randint(1, 8)] + t[at:]
            elif op == 4:
                t = t[:at]
            else:
                other = rng.choice(lines)
                t = t[:at] + other[rng.randrange(len(other) + 1):]
        out.append(t.replace("\n", " "))
    return out


@pytest.mark.parametrize("family", ["alb", *JSON_FAMILIES])
def test_mutated_lines_are_counted_as_parse_line_or_handed_back(family: str) -> None:
    """A mutation fuzz (run it under the sanitizers after a C change: CONTRIBUTING.md): every
    damaged line the counter takes is counted as ``parse_line`` reads it, and a block of them
    counts what the lines counted alone."""
    base = (_alb_corpus()[:3000] + _alb_bench(300)) if family == "alb" else \
        [*_json_lines(), *_bench_lines(family, 300)]
    lines = _mutated(base, 6000, seed=len(family))
    took = taken(family, lines)
    for text, got in took:
        assert got == per_line(family, text), text
    assert len(took) > (300 if family == "alb" else 50)  # most damaged JSON is no JSON
    count = native_counter(families().get(family))
    assert count is not None
    whole = count("".join(f"{t}\n" for t in lines).encode())
    statuses: Counter[int] = Counter(got[0] for _t, got in took if got[0] is not None)
    back = [t for t in whole.rest.decode("utf-8", "replace").split("\n")]
    assert len(back) - 1 == len(lines) - len(took)
    assert Counter(whole.statuses) == statuses


@pytest.mark.parametrize("family", ["alb", "traefik", "cloudflare", "envoy", "istio"])
def test_the_counted_families_keep_polars_out_of_the_agent(family: str, tmp_path: Path) -> None:
    """The light agent (issue 28 item 5): following ALB's, Traefik's or Cloudflare's access log
    (Caddy's: ``test_watch_agent.py``), the follow loop counts natively and loads neither polars
    nor rich, until an incident is diagnosed (by a ``diagnose`` child)."""
    from tests.watch.test_watch_agent import follow_loop_modules

    make = {"alb": gen_lb_logs.alb, "traefik": gen_lb_logs.traefik_json,
            "cloudflare": gen_lb_logs.cloudflare, "envoy": gen_lb_logs.envoy,  # (text: _envoyscan)
            "istio": gen_lb_logs.istio}[family]
    rng = random.Random(11)
    log = tmp_path / f"{family}.log"
    log.write_text("".join(make(gen_lb_logs.Req(rng, i, 2000.0)) + "\n" for i in range(2000)))
    loaded, events = follow_loop_modules(["--access-log", str(log), "--log-type",
                                          "envoy" if family == "istio" else family, "--from-start"])
    assert '"incident-opened"' in events
    assert loaded == []


# -- Envoy's text lines (default and Istio formats) ---------------------------------------------

ENVOY_TEXT_LOGS = ("cloud/envoy-recorded.log", "cloud/recorded/envoy/envoy-default.log",
                   "cloud/recorded/envoy/envoy-istio-text.log")


def _envoy_text_published() -> list[str]:
    """The recorded text lines and the published ones (Envoy's docs, Istio's issues)."""
    lines = [t for name in ENVOY_TEXT_LOGS for t in (FIX / name).read_text().splitlines() if t]
    for jsonl in ("envoy.jsonl", "istio.jsonl"):
        lines += [str(json.loads(row)["line"]) for row in (FIX / "cloud" / jsonl).read_text().splitlines()
                  if row.strip() and not str(json.loads(row)["line"]).startswith("{")]
    return lines


def _envoy_text_bench(n: int, seed: int = 5) -> list[str]:
    import watch_bench

    rng = random.Random(seed)
    return [watch_bench._envoy(rng, i).rstrip("\n") for i in range(n)]


_DEFAULT = ('[2026-11-22T11:07:58.526Z] "GET /dead HTTP/1.1" {status} {flags} 0 98 0 - "-" "rec/1" '
            '"66108e88" "127.0.0.1:57335" {host}')
_ISTIO = ('[2026-11-22T11:07:58.526Z] "GET /dead HTTP/1.1" {status} {flags} {details} - "{tfr}" 0 98 0 - "-" '
          '"rec/1" "66108e88" "shop" {host} {cluster} 127.0.0.1:57335 127.0.0.1:51136 - -')


def _envoy_text_bent() -> list[str]:
    """The text formats bent at each field the counter reads: statuses, flags (the proxy's own
    at any status, malformed lists), details and transport failure reasons (each refinement of
    ``_refine``, a direct response), hosts and clusters (dashes, absent, quoted), the three
    integers moved, quoted, missing, and the head broken where ``_HEAD`` or the status regex
    could read the line otherwise (a lower-case method, no time, a ``]`` in the request, a
    four-digit status, two spaces, a tab, a brace, non-ASCII)."""
    out: list[str] = []
    for status in ("0", "200", "204", "404", "429", "499", "500", "502", "503", "504", "599", "999",
                   "5", "05", "0503", "1000"):
        for flags in ("-", "UF", "URX,UF", "UH", "UT", "UC", "UO", "NR", "NC", "DC", "UAEX", "RL",
                      "UPE", "URX", "DC,UF", "UF,", "uf", "-X", ",UF", "UF,,UH", "X"):
            for host in ('"127.0.0.1:54367"', '"-"', '""', "-", ""):
                out.append(_DEFAULT.format(status=status, flags=flags, host=host).rstrip())
    for status in ("200", "503", "502", "504", "500"):
        for flags in ("-", "UF", "UC", "UR", "UPE", "UAEX", "NC", "URX"):
            for details, tfr in (("via_upstream", "-"), ("-", "-"), ("direct_response", "-"),
                                 ("upstream_reset_before_response_started", "delayed_connect_error:_111"),
                                 ("upstream_reset", "delayed_connect_error:_Connection_refused"),
                                 ("x", "delayed_connect_error:_113"), ("x", "TLS_error:_certificate"),
                                 ("x", "connection_timeout"), ("x", "connection_termination"),
                                 ("headers_too_large", "-"), ("-", "")):
                for host, cluster in (('"10.0.0.1:80"', "outbound|80||a.svc"), ('"-"', "-"),
                                      ('"10.0.0.1:80"', ""), ('"10.0.0.1:80"', '"c"'), ("", "")):
                    out.append(_ISTIO.format(status=status, flags=flags, details=details, tfr=tfr,
                                             host=host, cluster=cluster).rstrip())
    base = _DEFAULT.format(status="503", flags="UF", host='"127.0.0.1:54367"')
    ok = _DEFAULT.format(status="200", flags="-", host='"127.0.0.1:54367"')
    for line in (base, ok):
        out += [line.replace(" 0 98 0 ", " 0 98 x "), line.replace(" 0 98 0 ", ' 0 "98" 0 '),
                line.replace(" 0 98 0 ", " 0 98 "), line.replace(" 0 98 0 ", " 1 2 3 4 5 "),
                line.replace(" 0 98 0 ", " 0 98 0"), line.replace(" 0 98 0 ", " ² 98 0 "),
                line.replace("GET", "get"), line.replace('"GET ', '"'), line.replace('"GET ', '"GET'),
                line.replace("GET /dead", "GET /de]ad"), line.replace("GET /dead", 'GET /de"ad'),
                line.replace("2026-11-22T", "2026-11-22 "), line.replace("[2026", "[026"),
                line.replace("[2026-11-22T11:07:58.526Z] ", ""), "x " + line, line.replace("] ", "]  "),
                line.replace("] ", "]\t"), line.replace('" 503', '"  503').replace('" 200', '"  200'),
                line.replace(" 503 UF", " 503  UF").replace(" 200 -", " 200  -"),
                line.replace('"rec/1"', '"{rec}"'), line.replace('"rec/1"', '"réc"'),
                # a JSON object in a token: parse_line reads the line as JSON (family.json_object)
                line.replace('"rec/1"', '{"response_flags":"UH","response_code":404,"upstream_host":"h"}'),
                line.replace('"rec/1"', '"rec\x01"'), line.replace('"rec/1"', '"rec\x7f"'),
                line.replace('"rec/1"', '"rec'), line.replace('"rec/1"', 'rec"1'),
                line.replace('"rec/1"', '"a" "b" "c" "d" "e" "f"'), line + ' "x" "y"', line + " z",
                line.replace("2026-11-22T11:07:58.526Z", "2026-11-22T11:07:58.526Z]["),
                line.replace(' "-" ', ' "response_code":503, '), line + " " + " ".join(["t"] * 70),
                line.replace("0 98 0 ", " ".join(["9"] * 2 + ['"q"'] * 70) + " 0 98 0 ")]
    return out


def _text_taken(lines: list[str]) -> list[tuple[str, tuple[int | None, tuple[str, str] | None]]]:
    """``taken`` of the text counter alone (the JSON counter after it takes no text line)."""
    from why502.proxies.envoy.textcount import text_counter

    count = text_counter(None)
    assert count is not None
    return taken("envoy", lines, count)


def test_the_envoy_text_counter_takes_the_plain_lines() -> None:
    count = native_counter(families().get("envoy"))
    assert count is not None
    plain = [t for name in ENVOY_TEXT_LOGS[:2] for t in (FIX / name).read_text().splitlines()
             if t and " 404 NR " not in t]  # (a flagged line below 500 goes back: its docstring)
    lines = plain + _envoy_text_bench(2000)
    out = count("".join(f"{t}\n" for t in lines).encode())
    assert out.rest == b"", out.rest[:300]
    assert sum(out.statuses.values()) == len(lines)
    assert sum(out.failures.values()) >= 100
    # Istio's: the lines without a brace in their details
    istio = [t for t in (FIX / ENVOY_TEXT_LOGS[2]).read_text().splitlines()
             if t and "{" not in t and " 404 NR " not in t]
    assert len(istio) >= 3
    assert count("".join(f"{t}\n" for t in istio).encode()).rest == b""


def test_the_envoy_text_counter_counts_each_line_it_takes_as_parse_line() -> None:
    """Line by line: a line the counter takes is counted as ``parse_line`` reads it, and as the
    text status regex (what watch counted before) reads it.  (The JSON key's regex may read one
    too -- ``"response_code":503,`` as a token --: under it the counter is off.)"""
    from why502.proxies.envoy.log import TEXT_STATUS

    lines = [*_envoy_text_published(), *_envoy_text_bent(), *_envoy_text_bench(300)]
    took = _text_taken(lines)
    for text, got in took:
        assert got == per_line("envoy", text), text
        m = TEXT_STATUS.search(text.encode())
        assert m is not None and int(m.group(1)) == got[0], text
        assert got[0] is not None and (got[0] >= 500 or " - " in text), text
    assert len(took) > 1500
    assert sum(1 for _t, got in took if got[1] is not None) > 300  # failures decided natively
    assert len(took) < len(lines) - 200  # and the doubtful lines handed back


def _envoy_text_framed() -> list[str]:
    """The bench's and the published text lines behind kubectl logs' framings (``--timestamps``,
    ``--prefix``) and behind heads that are none (``tests.support.kubectl_heads``)."""
    from tests.support.kubectl_heads import HEADS

    rng = random.Random(71)
    plain = _envoy_text_published() + _envoy_text_bench(200)
    return [head + line for head in HEADS for line in rng.sample(plain, 12)]


def test_the_envoy_text_counter_reads_framed_lines_as_parse_line() -> None:
    """A line ``kubectl logs --timestamps`` (or ``--prefix``) framed is taken and counted as
    ``parse_line`` reads it and as the text status regex reads it (its first ``] "`` is the
    line's own: the framing holds none); a head that is no framing goes back.  Before, every
    framed line went back and was read line by line (3x the plain log's time)."""
    from why502.parsers.wrappers import kubectl_unframed
    from why502.proxies.envoy.log import TEXT_STATUS

    lines = _envoy_text_framed()
    took = _text_taken(lines)
    for text, got in took:
        assert kubectl_unframed(text) is not None or text.startswith("["), text
        assert got == per_line("envoy", text), text
        m = TEXT_STATUS.search(text.encode())
        assert m is not None and int(m.group(1)) == got[0], text
    framed = [t for t in lines if kubectl_unframed(t) is not None and t.isascii()]
    assert len(took) > len(framed) // 2  # the framed lines are taken, not all handed back


def test_watch_exports_the_same_framed_envoy_text_metrics_with_the_native_counter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _envoy_text_framed()
    native = exported(tmp_path, lines, "envoy", True, monkeypatch)
    ref = exported(tmp_path, lines, "envoy", False, monkeypatch)
    assert native == ref, {k: (native.get(k), ref.get(k)) for k in native.keys() | ref.keys()
                           if native.get(k) != ref.get(k)}


def _rx_in_force(lines: list[str]) -> bool:
    """Does ``watch`` read these lines with a status regex (it agreed on the first ones)?"""
    import re

    from why502.app.watch.engine import _status_regex

    return isinstance(_status_regex("envoy", lines[:20]), re.Pattern)


def test_watch_exports_the_same_envoy_text_metrics_with_the_native_counter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways, with the status regex in force (plain lines first) and without it (bent
    lines first), on the recorded logs, the bent lines, the bench's, and a log of JSON lines
    first (the JSON key's regex in force: the text counter stays off)."""
    from tests.stats.test_json_native import PLAIN

    bent = _envoy_text_bent()
    bench = _envoy_text_bench(3000)
    sets = [(name, (FIX / name).read_text().splitlines()) for name in ENVOY_TEXT_LOGS]
    sets += [("published", _envoy_text_published()), ("bent", bent), ("bench", bench),
             ("bench then bent", bench[:50] + bent), ("bent then bench", bent[-40:] + bench),
             ("json then text", [PLAIN["envoy"]] * 25 + bench[:500] + bent)]
    rng = random.Random(52)  # gen_lb_logs' failure-dense mixes (a quarter fail: every flag and detail)
    for make in (gen_lb_logs.envoy, gen_lb_logs.istio):
        sets.append((make.__name__, [make(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(3000)]))
    modes = set()
    own = 0
    for name, lines in sets:
        modes.add(_rx_in_force(lines))
        native = exported(tmp_path, lines, "envoy", True, monkeypatch)
        ref = exported(tmp_path, lines, "envoy", False, monkeypatch)
        assert native == ref, (name, {k: (native.get(k), ref.get(k)) for k in native.keys() | ref.keys()
                                      if native.get(k) != ref.get(k)})
        own += sum(v for k, v in native.items() if k.startswith("why502_upstream_failures_total"))
    assert modes == {True, False}
    assert own > 0


def test_the_envoy_text_counter_stays_off_under_the_json_status_regex() -> None:
    from why502.proxies.envoy.log import JSON_STATUS, TEXT_STATUS
    from why502.proxies.envoy.textcount import text_counter

    assert text_counter(JSON_STATUS) is None
    assert text_counter(TEXT_STATUS) is not None and text_counter(None) is not None


def test_mutated_envoy_text_lines_are_counted_as_parse_line_or_handed_back() -> None:
    """The mutation fuzz of the text counter (run it under the sanitizers after a C change)."""
    base = [*_envoy_text_published(), *_envoy_text_bent(), *_envoy_text_bench(300)]
    lines = _mutated(base, 8000, seed=52)
    took = _text_taken(lines)
    for text, got in took:
        assert got == per_line("envoy", text), text
    assert len(took) > 1000
    from why502.proxies.envoy.textcount import text_counter

    count = text_counter(None)
    assert count is not None
    whole = count("".join(f"{t}\n" for t in lines).encode())
    assert whole.rest.count(b"\n") == len(lines) - len(took)
    assert Counter(whole.statuses) == Counter(got[0] for _t, got in took if got[0] is not None)
    assert whole.failures == Counter(got[1] for _t, got in took if got[1] is not None)
    # the last line without its newline, and empty lines, go back as lines
    one = base[0]
    assert count(f"{one}\n\n{one}".encode()).rest.count(b"\n") in (1, 3)


# -- the edge's own failures below 500 --------------------------------------------------------

def _own_below_500(family: str) -> tuple[list[str], str]:
    """Plain request lines (so the family's status regex is chosen), then requests below 500
    that are still the edge's own failures -- Envoy's 200 with UT (a gRPC answer after the route
    timed out), its text twin, Cloudflare's 429 and 403 with no origin status -- and the symptom
    the parser gives them."""
    from tests.stats.test_json_native import PLAIN

    if family == "envoy-text":
        head = ('[2026-11-21T10:00:0{s}.000Z] "GET /cart HTTP/1.1" {code} {flags} 0 91 2 {ust} '
                '"-" "curl/8" "a" ')
        plain = [head.format(s=k, code=200, flags="-", ust=1) + '"shop.example.com" "10.0.0.14:8080"'
                 for k in range(10)]
        own = [head.format(s=k, code=200, flags="UT", ust="-") + '"shop.example.com" "10.0.0.14:8080"'
               for k in range(5)]
        return [*plain, *own], "read-timeout"
    if family == "envoy":
        base = PLAIN["envoy"].replace('"response_flags":"UF"', '"response_flags":"-"').replace(
            '"response_code":503', '"response_code":200')
        own = base.replace('"response_flags":"-"', '"response_flags":"UT"')
        return [*([base] * 25), *([own] * 5)], "read-timeout"
    base = PLAIN["cloudflare"].replace(":502,", ":200,")
    own = (base.replace('"EdgeResponseStatus":200', '"EdgeResponseStatus":429')
           .replace('"OriginResponseStatus":200', '"OriginResponseStatus":0'))
    return [*([base] * 25), *([own] * 5)], "rate-limited"


@pytest.mark.parametrize("family", ["envoy", "envoy-text", "cloudflare"])
def test_the_edges_own_failures_below_500_are_counted_with_and_without_the_native_counter(
        family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request below 500 can be the edge's own failure (``LbRecord.failed``): read line by
    line, the agent read only the 5xx past the status regex and missed them, while the native
    counter, which decides each line, counted them -- two answers for one log."""
    lines, symptom = _own_below_500(family)
    log_type = "envoy" if family == "envoy-text" else family
    for native in (True, False):
        got = exported(tmp_path, lines, log_type, native, monkeypatch)
        failures = {k: v for k, v in got.items() if k.startswith("why502_upstream_failures_total")}
        assert sum(failures.values()) == 5, (native, got)
        assert all(f'symptom="{symptom}"' in k for k in failures), (native, got)
