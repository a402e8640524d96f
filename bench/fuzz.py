"""The long fuzz run: millions of generated inputs through every parser of outside text.

Each input is a real line (the hostile corpus, the recorded nginx lines, load-balancer, HAProxy
and Apache lines) mutated by a seeded random walk: pieces inserted, deleted, replaced, the line
cut, control characters, bidi overrides, NUL, invalid UTF-8, huge and impossible numbers and
dates.  Every parser must return or raise one of our own input errors (``Why502Error``); any
other exception is a finding, printed with the input that caused it (``repr``) and its
traceback's last line.  The quick loop runs the same idea with hypothesis
(``tests/cli/test_qa_fuzz.py``, 200 examples per parser).

    .venv/bin/python bench/fuzz.py                          # 10M inputs on 2 processes
    .venv/bin/python bench/fuzz.py --inputs 200000 --workers 1 --seed 7
    .venv/bin/python bench/fuzz.py --inputs 1000000 --only native   # the C scanner against polars
    .venv/bin/python bench/fuzz.py --inputs 3000 --only long --budget 0.5   # long repetitive fields

The ``long`` family is about time, not exceptions: a real line with a run of 8-80 KB of one
repeated piece (spaces, ``(111: ``, quotes, ``** ``, digits, ``while``...) put into it, through
``classify_line`` and ``explain`` (the per-line engine and its repairs, ``parsers.normalize``).
A line that takes more than ``--budget`` seconds (twice: a busy machine may pause one run) is a
finding: a regex or loop that is quadratic on it.  The budget is checked here, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
RECORDED = ROOT / "tests" / "fixtures" / "recorded"

PIECES = ["\x00", "\x1b[2J", "\x1b]0;t\x07", "\u009b", "\u009d", "\u202e", "\u2066", "\r", "\t", '"', "'",
          "\\", "{", "}", ";", "$", "%", "[", "]", "(", ")", ",", ":", " ", "-", "-1.000", "NaN", "inf",
          "-inf", "1e309", "9" * 30, "9" * 5000, "0001/01/01", "9999/13/45 99:99:99", "31/Dec/9999:23:59:59",
          "\ufffd", "\udcff", "A" * 2100, "upstream: \"", "client: ", "HTTP/1.1", "unix:", "http://"]


def _lines(path: Path, limit: int = 50) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if ln.strip()][:limit]


def seeds() -> dict[str, list[str]]:
    """Real lines per parser family (the recorded fixtures add nginx error and access lines)."""
    errors = _lines(HOSTILE / "error.log") + _lines(HOSTILE / "error-truncated.log")
    access = _lines(HOSTILE / "access.log")
    for f in sorted((ROOT / "tests" / "fixtures" / "recorded-proxies").rglob("*.log")):
        errors += _lines(f, 5)  # Apache, HAProxy, gunicorn error lines go through classify_line too
    for d in sorted(RECORDED.glob("*"))[:40]:
        errors += _lines(d / "error.log", 5)
        access += _lines(d / "access.log", 5)
    return {
        "errorlog": errors,
        "access": access,
        "lb": [ln for f in sorted((ROOT / "tests" / "fixtures" / "cloud").glob("*.jsonl"))
               for ln in (json.loads(x).get("line", "") for x in _lines(f, 30)) if ln],
        "haproxy": [ln for f in sorted((ROOT / "tests" / "fixtures" / "recorded-proxies").rglob("*haproxy*"))
                    if f.is_file() for ln in _lines(f, 20)],
        "apache": access,  # combined is the same line for Apache's access log
        # the native scanner's inputs: nginx lines as written and in the framings it peels
        "native": [w for ln in errors for w in (ln, f"2024-05-01T12:00:01.123456789Z stderr F {ln}",
                                                f"2024-05-01T12:00:01Z {ln}", _docker(ln))],
        "report": [(ROOT / "src" / "why502" / "app" / "diagnose" / "demo_report.json").read_text()
                   if (ROOT / "src" / "why502" / "app" / "diagnose" / "demo_report.json").exists() else
                   '{"schema_version": "1.1", "healthy": false, "findings": [{"cause": "backend-not-running",'
                   ' "confidence": 0.7, "count": 3, "evidence": [{"kind": "log", "summary": "s"}]}]}'],
    }


def _docker(line: str) -> str:
    """``line`` as docker's json-file driver writes it (moby jsonlog: no spaces; <, >, & and
    controls as \\u00XX)."""
    body = json.dumps(line + "\n").replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return '{"log":' + body + ',"stream":"stderr","time":"2024-05-01T12:00:01.5Z"}'


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 5)):
        pos = rng.randint(0, len(text))
        end = min(len(text), pos + rng.randint(0, 16))
        piece = rng.choice(PIECES) if rng.random() < 0.7 else "".join(
            _char(rng) for _ in range(rng.randint(1, 6)))
        op = rng.random()
        if op < 0.35:
            text = text[:pos] + piece + text[pos:]
        elif op < 0.6:
            text = text[:pos] + text[end:]
        elif op < 0.9:
            text = text[:pos] + piece + text[end:]
        else:
            text = text[:pos]
    return text


def _char(rng: random.Random) -> str:
    """Any code point a reader can hand on: not a lone surrogate (a UTF-8 reader decodes with
    ``replace``; only ``surrogateescape``'s U+DC80-U+DCFF can appear, and PIECES has one)."""
    c = rng.randint(0, 0x30000)
    return chr(c) if not 0xD800 <= c <= 0xDFFF else "\ufffd"


def parsers() -> dict[str, Callable[[str], Any]]:
    """One callable per family, taking one generated text (imports here: each worker's own)."""
    import os
    import tempfile

    import polars as pl

    from why502.cli.cmd_render import load_report
    from why502.evidence.stats.parser import LineParser
    from why502.parsers.errorlog import classify_line
    from why502.parsers.lblogs import parse_line
    from why502.parsers.log_format import compile_format
    from why502.proxies.apache import log as apache_log
    from why502.proxies.haproxy import log as haproxy_log

    fmt = compile_format('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                         '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" '
                         'uht="$upstream_header_time" urt="$upstream_response_time"')
    access = LineParser(fmt)
    apache = apache_log.compile_log_format(apache_log.COMBINED)
    tmp = tempfile.mkdtemp(prefix="why502-fuzz-")

    def report(text: str) -> None:
        path = os.path.join(tmp, "r.json")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
        load_report(path)

    def access_line(text: str) -> None:
        out = access.parse(text.encode("utf-8", "surrogateescape") + b"\n")
        pl.DataFrame(out[0])

    def native(text: str) -> None:
        """The native scanner against the polars engine on one batch of lines: the same
        ``--format jsonl`` bytes and summary, or a finding (a crash in C ends the worker)."""
        from why502.app.classify import jsonl_paths, summarize_paths
        from why502.parsers import errorlog_native

        if errorlog_native._NATIVE is None:
            raise RuntimeError("the native scanner is not built")
        path = os.path.join(tmp, "n.log")
        with open(path, "wb") as fh:
            fh.write(text.encode("utf-8", "surrogateescape"))
        got = []
        for flag in ("1", "0"):
            os.environ["WHY502_NATIVE"] = flag
            summary = summarize_paths([path], batch_bytes=4096)
            symptoms = {k: (v.count, dict(v.statuses), v.first, v.last) for k, v in summary.symptoms.items()}
            upstreams = {k: (v.count, dict(v.symptoms)) for k, v in summary.upstreams.items()}
            got.append((b"".join(t for t, _ in jsonl_paths([path], batch_bytes=4096)), symptoms, upstreams))
        if got[0] != got[1]:
            raise AssertionError("native scanner and polars engine differ")

    return {"errorlog": classify_line, "access": access_line, "lb": parse_line,
            "haproxy": haproxy_log.to_nginx_line, "apache": lambda t: apache_log.to_nginx_line(t, apache),
            "report": report, "native": native}


# pieces whose long runs made recognisers quadratic (a run tried from each of its characters)
RUNS = [" ", "\t ", " a", "(111: ", "(111: x ", '" ', "** ", "1", "1/", "a/b ", " while", ", client: ", "[",
        "(", "x", "unix: ", "...", "\u2026 ", "1#1: ", "accept()", "\\\"", "%", "-", "#"]


def long_field(rng: random.Random, text: str) -> str:
    """``text`` with a run of 8-80 KB of one repeated piece in it: in its request field when it
    has one, else at a random place."""
    unit = rng.choice(RUNS)
    fill = unit * (rng.choice((8_000, 30_000, 80_000)) // len(unit))
    at = text.find("GET /")
    at = at + len("GET /") if at >= 0 and rng.random() < 0.6 else rng.randrange(len(text) + 1)
    return text[:at] + fill + text[at:]


def timed_family(budget: float) -> Callable[[str], None]:
    """``classify_line`` and ``explain`` of one line, a ``TimeoutError`` finding past ``budget``
    seconds (measured twice before it counts)."""
    from why502.app.explain import explain
    from why502.errors import Why502Error
    from why502.parsers.errorlog import classify_line

    def once(text: str) -> float:
        t0 = time.perf_counter()
        classify_line(text)
        with contextlib.suppress(Why502Error):
            explain(text)
        return time.perf_counter() - t0

    def run(text: str) -> None:
        took = once(text)
        if took > budget and (took := min(took, once(text))) > budget:
            raise TimeoutError(f"{took:.2f} s for a {len(text):,}-character line (budget {budget:g} s)")

    return run


def worker(args: tuple[int, int, tuple[str, ...], float]) -> tuple[int, list[tuple[str, str, str]]]:
    """Run ``n`` inputs from seed ``seed``; return the count and the findings (family, input, error)."""
    from why502.errors import Why502Error

    seed, n, only, budget = args
    rng = random.Random(seed)
    table = seeds()
    table["long"] = table["errorlog"] + table["haproxy"]
    funcs = parsers()
    funcs["long"] = timed_family(budget)
    families = [f for f in funcs if table.get(f) and (f in only if only else f != "long")]
    found: list[tuple[str, str, str]] = []
    done = 0
    i = 0
    while done < n:
        fam = families[i % len(families)]
        i += 1
        seed_line = rng.choice(table[fam])
        text = long_field(rng, seed_line) if fam == "long" else mutate(rng, seed_line)
        if fam in BATCHED:  # a chunk of lines per parse, as the reader gives them (counted per line)
            text = "\n".join([text, *(mutate(rng, rng.choice(table[fam])) for _ in range(BATCH - 1))])
        try:
            funcs[fam](text)
        except Why502Error:
            pass
        except Exception as err:  # any other exception is what the run looks for
            if len(found) < 20:
                last = traceback.format_exception_only(type(err), err)[-1].strip()
                found.append((fam, repr(text)[:400], last[:300]))
        done += BATCH if fam in BATCHED else 1
    return done, found


BATCH = 100
BATCHED = ("access", "native")  # families given BATCH lines at a time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slice", type=int, default=50_000, help="inputs per task")
    ap.add_argument("--only", nargs="+", metavar="FAMILY",
                    help="only these families (errorlog access lb haproxy apache report native long; "
                    "long runs only when named)")
    ap.add_argument("--budget", type=float, default=0.5,
                    help="seconds one line of the long family may take (default 0.5)")
    args = ap.parse_args()
    only = tuple(args.only or ())
    tasks = [(args.seed * 1_000_003 + k, min(args.slice, args.inputs - k * args.slice), only, args.budget)
             for k in range((args.inputs + args.slice - 1) // args.slice)]
    t0 = time.perf_counter()
    total, findings = 0, []
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, found in pool.imap_unordered(worker, tasks):
            total += done
            findings += found
            rate = total / (time.perf_counter() - t0)
            print(f"\r{total:,} inputs, {len(findings)} findings, {rate:,.0f}/s", end="", file=sys.stderr,
                  flush=True)
    print(file=sys.stderr)
    wall = time.perf_counter() - t0
    print(f"{total:,} inputs in {wall:.0f} s ({total / wall:,.0f}/s) on {args.workers} processes, seed "
          f"{args.seed}: {len(findings)} exceptions other than why502's input errors")
    for fam, text, err in findings[:20]:
        print(f"  {fam}: {err}\n    input: {text}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
