"""Every edge log behind ``kubectl logs --timestamps`` (and ``--prefix --timestamps``, and
``--prefix`` alone) gives the plain log's answer: ``classify`` (summary and ``--format jsonl``),
``stats`` and ``diagnose --access-log``, through the command line.

kubectl writes an RFC 3339 time (the kubelet's RFC3339NanoFixed) and a space before each line, and
``--prefix`` ``[pod/NAME/CONTAINER] `` before that.  Traefik's common-format log was refused behind
it (``classify`` recognised none of its lines, ``stats`` said no line matches the log format):
its anchored regex never saw the line's start.  The matrix is every family the bench writes, so
the next reader that anchors its format is caught here.  The kubectl time is not the request's:
the records keep the line's own time, so the answers are the plain file's, the raw line quoted as
evidence aside.

A prefix that is not a time kubectl could write stays part of the line (``test_a_bent_time_is_not_peeled``).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.support.kubectl_heads import NOT_FRAMINGS
from tests.support.reports import without_timing
from why502.parsers.wrappers import kubectl_unframed
from why502.proxies.logfamilies import families

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

#: every family the bench writes but Apache's (an origin server's log, no edge's)
FAMILIES = tuple(f for f in gen_lb_logs.FAMILIES if f != "apache")
FRAMINGS = {
    "timestamps": "2026-11-28T10:00:00.123456789Z ",
    "timestamps-offset": "2026-11-28T11:00:00.000000001+01:00 ",
    "prefix+timestamps": "[pod/traefik-7d4b9c-x2x/traefik] 2026-11-28T10:00:00.123456789Z ",
    "prefix": "[pod/web-0/proxy] ",
}
COMMANDS = {
    "classify": ("classify", "{log}", "--format", "json"),
    "classify-jsonl": ("classify", "{log}", "--format", "jsonl"),
    "stats": ("stats", "{log}", "--format", "json", "--no-progress"),
    "diagnose": ("diagnose", "--access-log", "{log}", "--format", "json"),
}
_LINES = 600


def _write(tmp: Path, family: str, head: str) -> tuple[Path, list[str]]:
    """The bench's ``family`` lines (the same for every framing) with ``head`` before each; for
    HAProxy the config its lines name (beside the folders: one path for every run), which
    ``stats`` and ``diagnose`` take (``classify`` knows HAProxy's lines without it)."""
    rng = random.Random(3)
    make = gen_lb_logs.FAMILIES[family]
    path = tmp / f"{family}.log"
    path.write_text("".join(head + make(gen_lb_logs.Req(rng, i, 20.0)) + "\n" for i in range(_LINES)),
                    encoding="utf-8")
    extra = ["--config", str(gen_lb_logs.haproxy_cfg(tmp.parents[1]))] if family == "haproxy" else []
    return path, extra


def _run(run_main: RunMain, command: str, log: Path, extra: list[str]) -> tuple[int, Any]:
    """The command's exit code and document (JSON; jsonl: the list of records), the log's path
    left out and a quoted line without its kubectl framing (the file's line, quoted as written)."""
    argv = [a.format(log=log) for a in COMMANDS[command]]
    argv += extra if command in ("stats", "diagnose") else []
    code, out, err = run_main(*argv)
    assert out.strip(), err
    text = out.replace(str(log), "LOG").replace(log.name, "LOG")
    doc = ([json.loads(x) for x in text.splitlines() if x.strip()] if command == "classify-jsonl"
           else json.loads(text))
    return code, _unquoted(without_timing(doc))


def _read(command: str, doc: Any) -> bool:
    """Whether the command's document found failures in the log."""
    if command == "classify":
        return bool(doc["recognised"])
    if command == "classify-jsonl":
        return bool(doc)
    if command == "stats":
        return bool(doc["requests"])
    return bool(doc["findings"])


def _unquoted(doc: Any) -> Any:
    """``doc`` with each evidence line's ``text`` unframed (``wrappers.kubectl_unframed``)."""
    if isinstance(doc, dict):
        return {k: (kubectl_unframed(v) or v) if k == "text" and isinstance(v, str) else _unquoted(v)
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_unquoted(v) for v in doc]
    return doc


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("family", FAMILIES)
def test_a_framed_log_reads_as_the_plain_log(family: str, command: str, tmp_path: Path,
                                             run_main: RunMain) -> None:
    plain_dir, framed_dir = tmp_path / "plain" / "plain", tmp_path / "framed"
    plain_dir.mkdir(parents=True)
    plain, extra = _write(plain_dir, family, "")
    want = _run(run_main, command, plain, extra)
    # the plain log is read, its failures found (else the comparison says nothing)
    assert _read(command, want[1]), (family, command, want)
    for name, head in FRAMINGS.items():
        sub = framed_dir / name
        sub.mkdir(parents=True)
        framed, extra = _write(sub, family, head)
        assert _run(run_main, command, framed, extra) == want, (family, command, name)


def test_the_traefik_common_format_is_named() -> None:
    """The defect as seen: the file's family is sniffed as Traefik's, each framed line read as
    its plain line (the request's own time, not kubectl's)."""
    rng = random.Random(5)
    lines = [gen_lb_logs.traefik_clf(gen_lb_logs.Req(rng, i, 20.0)) for i in range(50)]
    fams = families()
    for head in FRAMINGS.values():
        framed = [head + x for x in lines]
        assert fams.detect(framed) == "traefik"
        for plain, line in zip(lines, framed, strict=True):
            assert fams.parse_line(line, "traefik") == fams.parse_line(plain, "traefik") is not None


@pytest.mark.parametrize("head", NOT_FRAMINGS)
def test_a_bent_time_is_not_peeled(head: str) -> None:
    line = ('10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 11 "-" "curl/8" 1 '
            '"web@file" "http://10.0.0.2:8080" 3ms')
    fams = families()
    assert fams.parse_line(head + line, "traefik") is None
    assert fams.family_of(head + line) != "traefik"


@pytest.mark.parametrize("head", list(FRAMINGS.values()))
def test_kubectl_unframed(head: str) -> None:
    assert kubectl_unframed(head + "x y") == "x y"
    assert kubectl_unframed("x y") is None and kubectl_unframed("") is None
