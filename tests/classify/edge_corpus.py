"""The edge field corpus read through the commands a user runs (what ``test_edge_field_corpus.py``
reads: the data, the readings, the scoring and the floors).
The edge field corpus read through the commands a user runs: ``why502 classify FILE --format
jsonl`` (no ``--log-type``) and ``why502 explain LINE``.

``tests/fixtures/edge-field/<family>.jsonl`` holds real lines of the modern edge families (Envoy,
Istio, Envoy-based gateways, Caddy, Traefik, Kong, APISIX, NGINX Gateway Fabric, ingress-nginx,
Cloudflare pages and Logpush, cloudflared, AWS ALB/ELB) copied from public threads, each with its
URL; the README there says how they were gathered and labelled.

Three readings are scored, each the way a user meets it:

* **per line**: every line alone in its own file, ``why502 classify FILE --format jsonl``;
* **whole log**: every thread's lines together in one file, in corpus order (the paste as a log);
* **explain**: ``why502 explain --format json LINE``; it must name the same symptom classify
  names for that line (or both none).

The commands run through the console script's own entry point (``why502.cli.main:main``, what
``pyproject.toml`` installs as ``why502``) in one child process per test file (``DRIVER``): the same
argument parsing, format sniffing and output as the command, without paying an interpreter start
per line (classify reads many files per call, grouped as the command would read each alone).

A line is right when (``role`` in the record):

* ``failure``: the failure symptoms classify names for the line are exactly ``{expect.symptom}``;
* ``status-only`` (the proxy made the 5xx, the line does not say why): classify reports the line
  and names no failure symptom -- a guessed cause is wrong, silence is wrong (a host whose proxy
  made a 5xx is never healthy);
* ``companion``, ``event``, ``negative``: no failure symptom.  A failure symptom on a
  ``negative`` line is a false alarm.

The targets (97 % overall, 90 % per family, at most 2 % false alarms, explain agreeing on every
line) are not all met yet; this test asserts that nothing falls below the score recorded in
docs/dev/edge-corpus.md (overall, and on each half of a deterministic split of the threads:
``half``), and the shape of the data.  ``pytest -s`` prints the tables and the first corpus' misses.
Later batches (``batch*/``, a ``batch`` field) are fresh hold-outs from threads the first corpus does
not use: scored on their own, their misses not printed unless ``WHY502_SHOW_BATCH=1``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.paths import FIXTURES_DIR
from why502.catalog.patterns import EVENT_IDS

EDGE = FIXTURES_DIR / "edge-field"
FAMILIES = frozenset({
    "envoy", "istio", "envoy-gateway", "caddy", "traefik", "kong", "apisix", "ngf",
    "ingress-nginx", "cloudflare", "cloudflared", "alb",
})
ROLES = frozenset({"failure", "status-only", "companion", "event", "negative"})
KEYS = frozenset({"line", "url", "thread", "family", "framing", "role", "expect", "note"})
# Symptom IDs the corpus needs and the catalog does not have yet (README.md, "Proposed symptom IDs").
PROPOSED = frozenset({"upstream-overflow", "upstream-not-configured"})
URL = re.compile(r"^https://\S+$")

# Shape floors: the corpus may grow, never thin out.
MIN_LINES = 406
MIN_THREADS = 266
MIN_NEGATIVE_THREADS = 52  # threads giving both a failure and a negative/companion/status-only line (55
# before the ALB -1 -1 -1 502 line was relabelled connect-failed: its thread now has two failures; 54
# before the two relabels of 2026-11-24, istio#13848's async-client debug line (now a negative, its
# thread's only line) and gillian-guide#24's errorcode_521 footer (now a failure, beside its heading))
# The first corpus is batch "b1" (``<family>.jsonl``); later batches live in ``batch*/`` and are
# gathered from threads the first corpus does not use, to measure rules on lines nobody fitted them to.
FIRST = "b1"
# lines, threads
MIN_BATCH = {"b2": (100, 74), "b3": (86, 56), "b4": (80, 52), "b5": (93, 46), "b6": (107, 45),
             "b7": (115, 50), "b8": (243, 138), "b9": (230, 154),
             "b10": (205, 110), "b11": (213, 129), "b12": (21, 8),
             "b13": (155, 88)}

# Floors (a ratchet: raise them when rules land, never lower them).  FIRST SCORE before any edge
# rule: 223/406 per line, 221/406 whole log, 403/406 explain agreeing, 0 false alarms.  After the
# edge rules (docs/dev/edge-corpus.md, "Score after the edge rules"):
# 396/406 after batch 3's rules (397 with the Envoy Gateway direct_response term, withdrawn on merge:
# it outranked the k8s-joined finding); 392/406 after batch 2's; 365/406 before batch 2
# 402/406 after h/edgecorpus11 (6 lines more: 1 by a rule, 5 by relabels named in the fixture notes)
# 403/406 after h/edgecorpus13 (ai-gateway#579's direct_response 500 relabelled status-only: README)
FLOOR_LINE_RIGHT = 0.992
# whole log: 403/406 after h/edgecorpus13; 402/406 after h/edgecorpus11; 395/406 (391 after batch 2's rules)
FLOOR_WHOLE_RIGHT = 0.992
FLOOR_FAMILY_RIGHT = 0.90  # every family of the first corpus (issue 24's target; ngf 13/14 the lowest)
FLOOR_EXPLAIN_AGREES = 1.0  # 406/406
MAX_FALSE_ALARMS = 0  # of 128 negatives (127 before a Cloudflare docs quote was relabelled negative;
# 2 false alarms before batch 2's rules: prose on "no healthy upstream", 200 UR)
# The two halves of the thread split (``half``): rules are written from the development half's
# misses only; the held-out half is the honest figure of how they generalise.
# 179/180 after h/edgecorpus13; 178/180 after h/edgecorpus11; 175/180 (174/180 before batch 3's rules)
FLOOR_DEV_RIGHT = 0.994
# 224/226 after h/edgecorpus11; 221/226 (218/226 before; no longer held out: both halves open since batch 2)
FLOOR_HELD_RIGHT = 0.991
# Later batches: scored once before any rule change made after they were gathered (the honest first
# figure), then after; the floors are the latest recorded score.
# Batches whose misses were read to write rules: development data since, their misses always printed.
# their misses were read to write rules on 2026-11-24 (docs/dev/edge-corpus.md); b4's by h/edgecorpus5
# b5's by h/edgecorpus6, b6's by h/edgecorpus7, b8's by h/edgecorpus8, b9's by h/edgecorpus9, b10's by
# h/edgecorpus10
# b7's too since h/edgecorpus11 (every batch's misses were read by class; b11 is the hold-out since)
# b11's since its first score was recorded and its misses read by class (h/edgecorpus11)
OPEN_BATCHES = frozenset({"b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13"})
# b8's (after its first score was recorded; b7 stays the hold-out, its misses unread)
FLOOR_BATCH: dict[str, dict[str, float]] = {
    # b2 first score, before any rule change: 73/100, whole log 73/100, explain 100/100, 4 false alarms;
    # after the rules of 2026-11-24 (written from the first corpus' misses only): 76/100, 76, 100, 4
    # after rules from b2's own misses (2026-11-24; b2 is development data since): 95/100, 95, 100, 1
    # after the rules written from b3's misses (2026-11-24): 96/100, 96, 100, 1
    # after batch 5's rules (2026-11-25): 97/100, 97, 100, 1
    # after batch 6's rules (2026-11-25, h/edgecorpus7): 98/100, 98, 100, 1
    "b2": {"line": 0.98, "whole": 0.98, "explain": 1.0, "false_alarms": 1},
    # b3 first score, gathered after those rules, before any further rule change: 69/86, 69/86, 86/86, 3;
    # after rules from b3's own misses (2026-11-24; b3 is development data since): 84/86, 84, 86, 0
    "b3": {"line": 0.976, "whole": 0.976, "explain": 1.0, "false_alarms": 0},
    # b4 first score, gathered after the rules from b3's misses (2519641), before any further rule
    # change: 52/80 (65.0%), whole log 52/80, explain 80/80, 5 false alarms of 38 negatives
    # after rules from b4's own misses (2026-11-24; b4 is development data since): 77/80, 77, 80, 0
    # after batch 6's rules (2026-11-25, h/edgecorpus7): 78/80, 78, 80, 0
    # after the rules of h/edgecorpus11 (2026-11-25): 79/80, 79, 80, 0
    "b4": {"line": 0.987, "whole": 0.987, "explain": 1.0, "false_alarms": 0},
    # b5 first score, gathered after the rules from b4's misses (00244d5), before any further rule
    # change: 79/93 (84.9%), whole log 79/93, explain 93/93, 3 false alarms of 50 negatives
    # after rules from b5's own misses (2026-11-25, h/edgecorpus6; b5 is development data since):
    # 92/93, 92, 93, 0; b2 97/100 after them (the Gloo JSON line)
    # after batch 6's rules (2026-11-25, h/edgecorpus7): 93/93, 93, 93, 0
    "b5": {"line": 1.0, "whole": 1.0, "explain": 1.0, "false_alarms": 0},
    # b6 first score, gathered after the rules from b5's misses (f62f03c), before any further rule
    # change: 91/107 (85.0%), whole log 91/107, explain 107/107, 1 false alarm of 66 negatives
    # after rules from b6's own misses (2026-11-25, h/edgecorpus7; b6 is development data since):
    # 107/107, 107, 107, 0
    "b6": {"line": 1.0, "whole": 1.0, "explain": 1.0, "false_alarms": 0},
    # b7 first score, gathered after the rules from b6's misses (5817e0a), before any further rule
    # change: 102/115 (88.7%), whole log 102/115, explain 115/115, 0 false alarms of 85 negatives
    # after the rules of h/edgecorpus11 (written from batches 1-10's misses, b7's among them: 2026-11-25):
    # 107/115 (93.0%), 107, 115, 0
    "b7": {"line": 0.930, "whole": 0.930, "explain": 1.0, "false_alarms": 0},
    # b8 first score, gathered at main df953c3 (every rule of b1-b7 merged), before any rule change:
    # 198/243 (81.5%), whole log 198/243, explain 243/243, 8 false alarms of 134 negatives
    # after rules from b8's own misses (2026-11-25, h/edgecorpus8; b8 is development data since):
    # 224/243 (92.2%), whole log 224/243, explain 243/243, 1 false alarm
    # after the rules of h/edgecorpus11 (2026-11-25): 228/243 (93.8%), 228, 243, 0 false alarms
    # after h/edgeformats read a pretty-printed JSON's message member (Caddy's "msg": "dial tcp ...: i/o
    # timeout",): 229/243 (94.2%), 229, 243, 0
    # after h/edgecorpus14 (nginx's upstream handshake under a subrequest's log context, apisix#3783; Kong
    # 0.10's initial resolve with the DNS client's error, kong#2342): 231/243 (95.1%), 231, 243, 0
    "b8": {"line": 0.950, "whole": 0.950, "explain": 1.0, "false_alarms": 0},
    # b9 first score, gathered at main a0984e2 (every rule of b1-b8 merged), before any rule change:
    # 198/230 (86.1%), whole log 198/230, explain 230/230, 2 false alarms of 97 negatives
    # after rules from b9's own misses (2026-11-25, h/edgecorpus9; b9 is development data since):
    # 205/230 (89.1%), whole log 205/230, explain 230/230, 1 false alarm
    # after batch 10's rules (2026-11-25, h/edgecorpus10): 208/230 (90.4%), 208, 230, 1
    # after the rules of h/edgecorpus11 (2026-11-25): 217/230 (94.3%), 217, 230, 1
    # after batch 11's class rules (h/edgecorpus11): 218/230 (94.8%), 218, 230, 1
    # after the told_about link fix (h/edgecorpus13): 219/230; after Traefik 3's error handler line with a
    # bare error value (h/edgecorpus14, pangolin#1028): 220/230 (95.7%), 220, 230, 1
    "b9": {"line": 0.956, "whole": 0.956, "explain": 1.0, "false_alarms": 1},
    # b10 first score, gathered at main 7fa6a68 (every rule of b1-b9 merged), before any rule change:
    # 180/205 (87.8%), whole log 180/205, explain 205/205, 0 false alarms of 119 negatives
    # after rules from b10's own misses (2026-11-25, h/edgecorpus10; b10 is development data since):
    # 199/205 (97.1%), whole log 199/205, explain 205/205, 0 false alarms
    # after the rules of h/edgecorpus11 (2026-11-25): 201/205 (98.0%), 201, 205, 0
    # after the logrus reader of h/edgeformats (cloudflared 2018's ERRO[0054]): 202/205 (98.5%), 202, 205, 0
    # and Envoy's debug "[C1] connect timeout" line (conn_pool_base.cc): 203/205 (99.0%), 203, 205, 0
    "b10": {"line": 0.990, "whole": 0.990, "explain": 1.0, "false_alarms": 0},
    # b11 first score, gathered at h/edgecorpus11 b9c6eff (b1-b10 rules and that branch's class rules),
    # before any further rule change: 179/213 (84.0%), whole log 179/213, explain 213/213, 1 false alarm
    # of 113
    # after rules from b11's own misses (h/edgecorpus11; b11 is development data since, one expectation
    # relabelled after its first score: HAProxy's 503 page sentence, status-only): 200/213 (93.9%), 200,
    # 213, 0
    # after siege's result line read as the status it got (h/edgecorpus13): 201/213 (94.4%), 201, 213, 0
    "b11": {"line": 0.943, "whole": 0.943, "explain": 1.0, "false_alarms": 0},
    # b12 (h/edgeformats): 17 told-code negatives from 7 public threads none of b1-b11 uses (conditionals,
    # fixes, proposals, change titles) and 4 lines of cloudflared 2019's logrus format (cloudflared#153).
    # First score through classify, before any rule change: negatives 17/17 with no failure symptom but
    # 5 reported as a proxy's reply (status-only records: counted as false alarms in
    # docs/dev/edge-corpus.md, "reported" here); the two logrus failures unread: 19/21 (90.5%).
    # After the told_about shapes and the logrus reader: 21/21, 0 false alarms, 0 negatives reported.
    "b12": {"line": 1.0, "whole": 1.0, "explain": 1.0, "false_alarms": 0, "reported": 0},
    # b13 (h/edgecorpus13): 155 lines from 88 public threads none of b1-b12 uses, weighted to Traefik,
    # Caddy, the Envoy-based gateways, ALB, APISIX, Kong, NGF. First score through classify, gathered after
    # one told_about fix (a link's path is no document title) and before any other rule change: 145/155
    # (93.5%), whole log 145/155, explain 155/155, 0 false alarms of 97 negatives, 5 negatives reported
    # after Go's unix-socket EAGAIN (go-proxy-socket-backlog): 146/155 (94.2%), 146, 155, 0, 5 reported
    "b13": {"line": 0.941, "whole": 0.941, "explain": 1.0, "false_alarms": 0, "reported": 5},
}
# The hold-out: its misses are not read to write rules, and the whole-corpus floors below are taken on
# the other batches (with b7, apisix 80/89 is under 90%: docs/dev/edge-corpus.md)
# b6 until its misses were read (h/edgecorpus7); b8 until its first score was recorded (h/edgecorpus8);
# b9 until its first score was recorded (h/edgecorpus9); b10 until its first score was recorded
# (h/edgecorpus10)
# b7 until h/edgecorpus11 read every batch's misses by class (its misses among them); b11 since its first
# score
# (b11 until its misses were read by class, h/edgecorpus11: no batch is held out until the next one is
# gathered)
# b13 from its first score until its misses were read by class (h/edgecorpus13; open since, no batch held out)
HELD_OUT: frozenset[str] = frozenset()
# Every batch but the hold-out (HELD_OUT) together (issue 24's "Done when" is read on the whole
# corpus): 746/765 (97.5%) after batch 5's rules, every family >= 90% (envoy-gateway 52/57 the
# lowest), 1 false alarm of 285 negatives (batch 2's naiveproxy CONNECT reset); 732/765 before them
# batches 1-6 after batch 6's rules (h/edgecorpus7): 856/872 (98.2%), every family >= 90% (envoy-gateway 54/59
# the lowest), 1 false alarm of 351 negatives; 837/872 (96.0%), alb 48/55 and apisix 46/52 before them
# batches 1-6 and 8 after batch 8's rules (h/edgecorpus8): 1080/1115 (96.9%), every family >= 90%
# (envoy-gateway 57/62 the lowest), 2 false alarms of 485 negatives; 1054/1115 (94.5%), 10 false alarms
# with batch 8 at its first score
# batches 1-6, 8 and 9 after batch 9's rules (h/edgecorpus9): 1285/1345 (95.5%), every family >= 90%
# (envoy-gateway 72/80 the lowest, apisix 101/111), 3 false alarms of 582 negatives (0.5%; batch 9
# brought the third, Kong 0.9 failing to resolve its own database); 1182/1230 on batches 1-8 as before
# batches 1-6 and 8-10 after batch 10's rules (h/edgecorpus10): 1487/1550 (95.9%), every family >= 90%
# (apisix 127/138 the lowest), 3 false alarms of 701 negatives; batches 1-6, 8, 9 alone 1288/1345
# (1285 before)
# batches 1-6 and 8-10 after the rules of h/edgecorpus11 (every batch's misses by class, 2026-11-25):
# 1509/1550 (97.4%), every family >= 90%, 2 false alarms of 701; all ten batches 1616/1665 (97.1%),
# apisix 163/175
# every batch but b11 (b7 open since): 1616/1665 (97.1%), apisix 163/175, 2 false alarms of 786
# all eleven batches after batch 11's class rules (h/edgecorpus11): 1817/1878 (96.8%), every family >= 90%
# (envoy-gateway 101/108 the lowest), 2 false alarms of 899; batches 1-10 alone 1617/1665 (97.1%)
# all twelve batches after h/edgeformats (b12: 17 told-code negatives, 4 logrus lines; the logrus reader and
# the told_about shapes): 1839/1899 (96.8%), every family >= 90%, 2 false alarms of 918 negatives and 27 more
# negatives given a status-only record (29 before the troubleshooting shape); batches 1-11 alone 1818/1878
# with Envoy's debug connect-timeout line read: 1840/1899 (96.9%); with a pretty-printed JSON's message member
# read: 1841/1899 (96.9%); batches 1-11 alone 1820/1878 (96.9%)
# with ai-gateway#579's relabel (b1): 1989/2054 (96.8%, 0.9684); with siege's result line (b11): 1990/2054
# all thirteen batches (h/edgecorpus13: b13 added, open after its first score; the told_about link fix, Go's
# unix-socket EAGAIN, client-go's Response Status trace): 1988/2054 (96.8%, 0.9679), every family >= 90%,
# 2 false alarms of 1015 negatives and 30 more given a status-only record; batches 1-12 alone 1842/1899
# h/edgecorpus14 (nginx's upstream handshake under a subrequest's context, Traefik's bare error value, Kong
# 0.10's DNS error through the key rules' second literal): 1993/2054 (97.03%), every family >= 90%
# (envoy-gateway 126/135 the lowest), 2 false alarms of 1015 negatives, 30 more given a status-only record
FLOOR_ALL_RIGHT = 0.970  # 1993/2054 = 0.97030 (h/edgecorpus14)
FLOOR_ALL_FAMILY_RIGHT = 0.90
MAX_ALL_FALSE_ALARMS = 2

# The child process: one call of the console script's entry point per argv, stdout captured.  A job
# ``{"each": [FILE, ...]}`` reads every FILE as ``why502 classify FILE --format jsonl`` would alone, in
# as few calls as that allows: the command picks its reader from the first file's first lines
# (``app.stats.sniff.sniff_log_type``, cli/cmd_classify.py ``run``) and then reads every file on its own
# (one batch never spans two files: sources/logfiles.py ``iter_batches``; each record names its
# ``file``), so the files are grouped by what that sniff says of each alone and each group is one
# ``why502 classify F1 F2 ... --format jsonl`` call; each file's records are handed back as its own
# stdout.  About 2,400 calls became ~1,000 (the ``explain`` ones and a handful of groups).
DRIVER = r"""
import io, json, sys
from why502.cli.main import main
from why502.app.stats.sniff import sniff_log_type
class Keep(io.BytesIO):
    def close(self):  # the command may close its stdout; keep what it wrote
        pass
def call(argv):
    buf = Keep()
    real = sys.stdout
    sys.stdout = io.TextIOWrapper(buf, encoding="utf-8", errors="replace", write_through=True)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdout.flush()
        sys.stdout = real
    return {"code": code, "stdout": buf.getvalue().decode("utf-8", "replace")}
def each(paths):
    groups = {}
    for p in paths:
        groups.setdefault(sniff_log_type([p]), []).append(p)
    got = {p: [] for p in paths}
    for group in groups.values():
        res = call(["classify", *group, "--format", "jsonl", "--no-progress"])
        for x in res["stdout"].splitlines():
            if x.startswith("{"):
                got[json.loads(x)["file"]].append(x)
            else:
                raise SystemExit("classify wrote a line that is not a record: " + x[:200])
    return [{"code": None, "stdout": "".join(x + "\n" for x in got[p])} for p in paths]
out = []
for job in json.load(sys.stdin):
    out.extend(each(job["each"]) if isinstance(job, dict) else [call(job)])
sys.__stdout__.write(json.dumps(out))
sys.__stdout__.flush()
"""

def half(thread: str) -> str:
    """``dev`` or ``held``: a deterministic split of the threads (sha256 of the thread id, even
    first byte: development).  Rules are written looking only at the development half's misses;
    the held-out half's score is the honest figure of how they generalise (docs/dev/edge-corpus.md).
    """
    return "dev" if hashlib.sha256(thread.encode("utf-8")).digest()[0] % 2 == 0 else "held"


@dataclass(frozen=True)
class Row:
    n: int
    line: str
    url: str
    thread: str
    family: str
    framing: str
    role: str
    symptom: str | None
    batch: str = "b1"


def _paths() -> list[Path]:
    """The first corpus (``<family>.jsonl``, batch ``b1``) then the later batches (``batch*/``)."""
    return [*sorted(EDGE.glob("*.jsonl")), *sorted(EDGE.glob("batch*/*.jsonl"))]


def _rows() -> list[Row]:
    rows: list[Row] = []
    for path in _paths():
        for text in path.read_text(encoding="utf-8").splitlines():
            if text.strip():
                d = json.loads(text)
                rows.append(Row(n=len(rows), line=d["line"], url=d["url"], thread=d["thread"],
                                family=d["family"], framing=d["framing"], role=d["role"],
                                symptom=d["expect"]["symptom"], batch=d.get("batch", "b1")))
    return rows


ROWS = _rows()


def _run(argvs: list[Any]) -> list[dict[str, Any]]:
    """Each job's outputs in order: an argv gives one, ``{"each": files}`` one per file (``DRIVER``)."""
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(argvs), capture_output=True,
                          text=True, timeout=1800, check=False, stdin=None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def _failures(records: list[dict[str, Any]]) -> set[str]:
    return {r["symptom"] for r in records if r.get("symptom") and r["symptom"] not in EVENT_IDS}


def _explained(stdout: str) -> str | None:
    """The symptom ``why502 explain --format json LINE`` names (its first symptom entry), or None."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        return None
    for entry in doc.get("entries", []) if isinstance(doc, dict) else []:
        if entry.get("kind") == "symptom" and entry.get("id") not in EVENT_IDS:
            return str(entry["id"])
    return None


def right(row: Row, records: list[dict[str, Any]]) -> bool:
    named = _failures(records)
    if row.role == "failure":
        return named == {row.symptom}
    if row.role == "status-only":
        return bool(records) and not named
    return not named


@dataclass
class Score:
    total: int = 0
    right: int = 0
    failures: int = 0
    failures_right: int = 0
    negatives: int = 0
    false_alarms: int = 0
    reported: int = 0  # negatives given a record without a failure symptom (a status-only report)
    agree: int = 0
    misses: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)

    def pct(self, a: int, b: int) -> str:
        return f"{a / b:.1%}" if b else "-"


@dataclass
class Result:
    per_line: dict[str, Score]
    whole: dict[str, Score]
    records: dict[int, list[dict[str, Any]]]
    halves: dict[str, dict[str, Score]]  # "dev" / "held" -> per-line scores of that half (first corpus)
    batches: dict[str, tuple[dict[str, Score], dict[str, Score]]]  # later batch -> (per line, whole log)


def _score(rows: list[Row], got: dict[int, list[dict[str, Any]]], explained: dict[int, str | None] | None,
           ) -> dict[str, Score]:
    out: dict[str, Score] = defaultdict(Score)
    for r in rows:
        recs = got.get(r.n, [])
        ok = right(r, recs)
        named = _failures(recs)
        for s in (out[r.family], out["all"]):
            s.total += 1
            s.right += ok
            if r.role == "failure":
                s.failures += 1
                s.failures_right += ok
            if r.role == "negative":
                s.negatives += 1
                s.false_alarms += bool(named)
                s.reported += bool(recs) and not named
            if explained is not None:
                mine = sorted(named)[0] if named else None
                s.agree += explained.get(r.n) == mine
        said = explained.get(r.n) if explained is not None else None
        if explained is not None and said != (sorted(named)[0] if named else None):
            out[r.family].disagreements.append(
                f"{r.family}: classify {sorted(named) or None}, explain {said}: {r.line[:90]!r}")
        if not ok:
            seen = sorted(named) or ("record" if recs else None)
            out[r.family].misses.append(
                f"{r.family}/{r.role}/{r.framing}: want {r.symptom}, got {seen}: {r.line[:120]!r} ({r.url})")
    return out

def compute_result(rows: list[Row], extra: list[Row] | None = None) -> Result:
    """Run every reading of ``rows`` through the commands and score it; ``extra`` rows are read per
    line only (classify), for a floor over more lines than the file scores in full (also used by hand:
    see the docs)."""
    extra = extra or []
    with tempfile.TemporaryDirectory(prefix="why502-edge-") as tmp:
        d = Path(tmp)
        files: list[str] = []
        for r in [*rows, *extra]:
            p = d / f"line-{r.n:04d}.log"
            p.write_text(r.line + "\n", encoding="utf-8")
            files.append(str(p))
        argvs: list[Any] = [{"each": files}]
        argvs.extend(["explain", "--format", "json", r.line] for r in rows)
        threads: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            threads[r.thread].append(r)
        order = sorted(threads)
        logs: list[str] = []
        for i, t in enumerate(order):
            p = d / f"thread-{i:04d}.log"
            p.write_text("".join(r.line + "\n" for r in threads[t]), encoding="utf-8")
            logs.append(str(p))
        argvs.append({"each": logs})
        outs = _run(argvs)
    read = [*rows, *extra]
    per: dict[int, list[dict[str, Any]]] = {}
    for r, o in zip(read, outs[: len(read)], strict=True):
        per[r.n] = [json.loads(x) for x in o["stdout"].splitlines() if x.startswith("{")]
    explain_outs = outs[len(read): len(read) + len(rows)]
    explained = {r.n: _explained(o["stdout"]) for r, o in zip(rows, explain_outs, strict=True)}
    whole: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t, o in zip(order, outs[len(read) + len(rows):], strict=True):
        for x in o["stdout"].splitlines():
            if x.startswith("{"):
                rec = json.loads(x)
                if isinstance(rec.get("line"), int) and 1 <= rec["line"] <= len(threads[t]):
                    whole[threads[t][rec["line"] - 1].n].append(rec)
    first = [r for r in rows if r.batch == FIRST]
    halves = {h: _score([r for r in first if half(r.thread) == h], per, explained) for h in ("dev", "held")}
    later = sorted({r.batch for r in rows} - {FIRST})
    batches = {b: (_score([r for r in rows if r.batch == b], per, explained),
                   _score([r for r in rows if r.batch == b], whole, None)) for b in later}
    return Result(per_line=_score(first, per, explained), whole=_score(first, whole, None), records=per,
                  halves=halves, batches=batches)


def table(per_line: dict[str, Score], whole: dict[str, Score]) -> str:
    head = ("| family | lines | right (per line) | failure lines right | negatives | false alarms | "
            "whole log right | explain agrees |")
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for fam in [*sorted(k for k in per_line if k != "all"), "all"]:
        s, w = per_line[fam], whole[fam]
        name = "**all**" if fam == "all" else fam
        out.append(f"| {name} | {s.total} | {s.right} ({s.pct(s.right, s.total)}) | "
                   f"{s.failures_right}/{s.failures} | {s.negatives} | {s.false_alarms} | "
                   f"{w.right} ({w.pct(w.right, w.total)}) | {s.agree} ({s.pct(s.agree, s.total)}) |")
    return "\n".join(out)
