"""The native JSON pass counts the requests ``diagnose`` only counts, for Cloudflare, Envoy,
Traefik and Caddy, and gives what counting their rows gives.

The counterpart of ``test_alb_answers.py`` for the JSON families (``parsers/lblogs/json_answers``,
``_jsonscan.c`` ``rule_answered``): a line the pass reads is counted by (status, minute, target)
when its family's ``AnswerRule`` makes it sure it answered; every other line comes as columns
and is decided as before.  On every published, recorded and bent JSON edge line (the corpus of
``tests/stats/test_json_native.py``, whatever its family), on the bench's lines, and on a grid
that sets each key a rule reads to every kind of value that could make the rule wrong (a status
the edge makes itself, a "-", "" or null where a value is expected, a flag, a duration of
another form, no router, Caddy's logger and its Unix times -- the text the pass writes of a
number must be the one polars writes, to the microsecond rounded half to even), whole and
shuffled into blocks, the counts with the pass equal the counts of the rows handed over in every
field and order, every other row is the same row, and ``diagnose`` uses the pass with the same
report.
"""

from __future__ import annotations

import functools
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.stats.test_json_native import PLAIN, _lines
from tests.support.answers import Both, both, counted_alike, diagnose_takes_the_answers, same_in_blocks
from tests.support.native import native_pass
from why502.parsers.lblogs import batch
from why502.proxies.caddy import frame as caddy
from why502.proxies.envoy import frame as envoy
from why502.proxies.traefik import frame as traefik

BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

Reader = Callable[[bytes], Any]
#: family -> (its block reader, its answering reader, the bench's name of its JSON log)
READERS: dict[str, tuple[Reader, Reader, str]] = {
    "cloudflare": (batch.cloudflare_block, batch.cloudflare_answers_block, "cloudflare"),
    "envoy": (envoy.envoy_block, envoy.envoy_answers_block, "envoy-json"),
    "traefik": (traefik.traefik_block, traefik.traefik_answers_block, "traefik-json"),
    "caddy": (caddy.caddy_block, caddy.caddy_answers_block, "caddy"),
}

# each key a rule reads, and the values to set it to (a JSON text; None: the key removed)
_GRID: dict[str, dict[str, tuple[str | None, ...]]] = {
    "cloudflare": {
        "EdgeResponseStatus": ("200", "0", "403", "429", "404", "499", "500", "502", "520", "-1", '"200"'),
        "OriginResponseStatus": ("0", "200", "403", "502"),
        "EdgeStartTimestamp": ('""', '"-"', '"2026-11-21"', "null", "1795521884", '"2026-11-21T10:00:59Z"'),
        "OriginIP": ('""', '"-"', "null", None, '"10.0.0.9"', '"--"'),
    },
    "envoy": {
        "response_code": ("200", "0", "404", "499", "500", "503", '"200"', '"-"', '""', "null", "2000", "-1"),
        "response_flags": ('"-"', '""', "null", '"UF"', '"NR"', '"DC"', '"URX"'),
        "start_time": ('""', '"-"', "null", '"2026-11-21"', '"2026-11-21T10:00:59.999Z"'),
        "upstream_host": ('""', '"-"', "null", None, '"10.0.0.9:80"'),
        "duration": ('"12"', '"1.5"', '"1e3"', '"-"', '""', '"x"', "12", "null"),
        "upstream_service_time": ('"12"', '"-"', '"1.5.1"', "null", '"-5"', '"1234567890123456"'),
        "response_code_details": ('"via_upstream"', '"direct_response"', '"route_not_found"', "null"),
    },
    "traefik": {
        "DownstreamStatus": ("200", "0", "404", "499", "500", "502", "503"),
        "RouterName": ('""', '"-"', "null", None, '"web@docker"'),
        "ServiceURL": ('""', '"-"', "null", None, '"http://10.0.0.9"'),
        "ServiceAddr": ('""', '"-"', "null", None, '"10.0.0.9:80"'),
        "StartUTC": ('""', '"-"', "null", None, '"2026-11-21T10:00:59Z"'),
        "time": ('""', '"-"', "null", None, '"2026-11-21T10:01:00Z"'),
        "OriginContentSize": ("0", "11", "21"),
    },
    "caddy": {
        "status": ("200", "0", "404", "499", "500", "502", "503", "504", '"200"', "null"),
        "logger": ('"http.log.access.log0"', '"http.log.access"', '"http.log.error.log0"',
                   '"http.log.acces"', '""', "null", None, "12"),
        "ts": ("0", "-1", "1795521884", "1795521884.9201121", "253402300799.9999996", "253402300800",
               "1700000000.0000005", "1700000000.0000015", "1699999999.9999995", '"1795521884"', "null",
               None),
        "size": ("0", "3", "null"),
    },
}


def _set(line: str, key: str, value: str | None) -> str:
    obj = json.loads(line)
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = json.loads(value)
    return json.dumps(obj, separators=(",", ":"))


# the plain line of each family made one that answered (the grid's base)
_ANSWERED = {
    "cloudflare": {"EdgeResponseStatus": "200", "OriginResponseStatus": "200"},
    "envoy": {"response_code": "200", "response_flags": '"-"', "response_code_details": '"via_upstream"',
              "upstream_transport_failure_reason": "null"},
    "traefik": {"DownstreamStatus": "200", "OriginStatus": "200"},
    "caddy": {"status": "200", "size": "1024", "level": '"info"'},
}


def _grid(family: str) -> Iterator[str]:
    """The family's plain line made an answer, with one key set to each of its values, and with
    pairs of keys set."""
    base = PLAIN[family]
    for key, answered in _ANSWERED[family].items():
        base = _set(base, key, answered)
    grid = _GRID[family]
    keys = list(grid)
    for key in keys:
        for value in grid[key]:
            yield _set(base, key, value)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            for va in grid[a]:
                for vb in grid[b][:4]:
                    yield _set(_set(base, a, va), b, vb)
    if family == "caddy":  # Unix times of every scale, and at the half microsecond
        rng = random.Random(11)
        for _ in range(300):
            ts = rng.choice([rng.uniform(0, 4e9), rng.uniform(0, 1e6), rng.uniform(2.5e11, 253402300799.0)])
            yield _set(base, "ts", repr(ts))
        for k in range(128):  # k/128 s is k x 7812.5 us, exactly: half to even, not away from zero
            yield _set(base, "ts", repr(1795521884 + 60 * k + k / 128))  # (a minute each: its own group)
    if family == "traefik":  # its own "no router" 404: neither a router nor a service URL
        for none in ('""', "null", None):
            for status in ("404", "200"):
                unnamed = _set(_set(base, "RouterName", none), "ServiceURL", none)
                yield _set(unnamed, "DownstreamStatus", status)


def _bench(name: str, n: int, seed: int = 5) -> list[str]:
    """``n`` lines of the bench's log ``name`` (``bench/gen_lb_logs.py``)."""
    rng = random.Random(seed)
    make = gen_lb_logs.FAMILIES[name]
    return [make(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(n)]


@functools.cache
def _all(family: str) -> tuple[str, ...]:
    return (*_lines(), *_grid(family), *_bench(READERS[family][2], 400))


def _both(family: str) -> Callable[[list[str]], Both]:
    block, answering, _bench = READERS[family]
    return functools.partial(both, block, answering)


@pytest.mark.parametrize("family", list(READERS))
def test_the_answers_equal_the_rows_counted(family: str) -> None:
    lines = list(_all(family))
    lines.sort(key=lambda line: not line.startswith("{"))  # (the JSON pass reads the block first)
    counted_alike(_both(family)(lines), 300)


@pytest.mark.parametrize("family", list(READERS))
def test_the_grid_is_counted_where_the_rule_is_sure_and_only_there(family: str) -> None:
    """The rule counts the grid's lines that answered and leaves every line the family may have
    failed itself below 500 (Cloudflare's 403/429 with no origin answer, Envoy's flags,
    Traefik's "no router") as rows: each such row is still there, and marked failed."""
    block, answering, _bench = READERS[family]
    lines = list(_grid(family))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    every, _back = block(data)
    rest, _back2, answers = answering(data)
    # below 500: the rows that failed (Cloudflare's 403/429, Envoy's flags), and for Traefik its
    # own lines ("no router": the vocabulary gives it no symptom today, the rule is sure anyway)
    lb_own = (pl.col("made_by") == "lb") & (family == "traefik")
    own = (pl.col("status") < 500) & (pl.col("failed") | lb_own)
    assert every.filter(own).height > 0 or family == "caddy"  # (Caddy fails nothing below 500)
    assert every.filter(own).equals(rest.filter(own))
    assert int(answers["len"].sum()) > 20


@pytest.mark.parametrize("family", list(READERS))
@pytest.mark.parametrize("seed", [1, 2])
def test_the_answers_equal_the_rows_counted_in_any_order_and_block(family: str, seed: int) -> None:
    same_in_blocks(list(_all(family)), _both(family), seed, 700)


@pytest.mark.parametrize("family", list(READERS))
def test_diagnose_counts_the_answers_natively(family: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``diagnose`` on the family's JSON log takes the pass's answers (most of its requests),
    and its report is the one without them."""
    _block, answering, bench = READERS[family]
    lines = _bench(bench, 3000)
    log = tmp_path / f"{bench}.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    module = {"cloudflare": batch, "envoy": envoy, "traefik": traefik, "caddy": caddy}[family]
    diagnose_takes_the_answers(log, len(lines), monkeypatch, module, answering.__name__)


def test_the_times_the_pass_writes_are_the_records_times() -> None:
    """Caddy's time is a number the pass writes as text (``_jsonscan.c`` ``unix_text``): of each
    line, a minute apart (a group each), the group's times are the record's, to the microsecond
    -- random times of every scale, and the ones at half a microsecond (k/128 s is k x 7812.5 us
    exactly, rounded half to even as CPython and polars do)."""
    base = PLAIN["caddy"]
    for key, answered in _ANSWERED["caddy"].items():
        base = _set(base, key, answered)
    rng = random.Random(4)
    stamps = [60 * k + (k % 128) / 128 for k in range(400)]
    stamps += [60 * (400 + k) + rng.random() for k in range(400)]
    lines = [_set(base, "ts", repr(1795521884 + s)) for s in stamps]
    lines += [_set(base, "ts", repr(60.0 * k + rng.random())) for k in range(100)]  # 1970
    data = ("\n".join(lines) + "\n").encode("utf-8")
    every, _back = caddy.caddy_block(data)
    _rest, _back2, answers = caddy.caddy_answers_block(data)
    assert answers["len"].to_list() == [1] * len(lines)
    assert sorted(answers["_lo"].to_list()) == sorted(every["time"].to_list())
    assert answers["_lo"].to_list() == answers["_hi"].to_list() == answers["_time"].to_list()
