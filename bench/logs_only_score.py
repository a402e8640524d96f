"""Score ``why502 diagnose`` given each recorded scenario's logs alone -- no ``--proxy``, no
config, offline -- as a user pasting the paths from a ticket would run it: per scenario, the
proxy its first finding names and its first cause, against the scenario's ``meta.json``
(``tests/fixtures/recorded``: logs of real proxies and backends, ``scripts/record-fixtures``).

Why: the readers guess whose logs they are from the logs themselves (HAProxy's httplog, Apache's
error-log head: ``Hooks.access_sniff``, ``Hooks.error_sniff``); a wrong guess gives another
proxy's words and fix (Apache's logs were answered "nginx gave up ... nginx -t", stop 58).

    .venv/bin/python bench/logs_only_score.py                      # this tree
    .venv/bin/python bench/logs_only_score.py --pythonpath OLD/src # another tree, same checkout

An edge's finding (Caddy's, Envoy's access log) names no proxy by design (``analyzers.rank``):
its scenarios count as right when the finding names none.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
EDGE = {"caddy", "envoy"}  # read as an edge's log: no proxy in the finding


def _args(scenario: Path, meta: dict[str, object]) -> list[str]:
    files = meta.get("files") or {}
    assert isinstance(files, dict)
    out: list[str] = []
    for key, flag in (("error_log", "--error-log"), ("access_log", "--access-log")):
        name = files.get(key)
        if name and (scenario / name).is_file():
            out += [flag, str(scenario / name)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pythonpath", help="the src/ of another tree to score (PYTHONPATH)")
    ap.add_argument("--json", action="store_true", help="one JSON object per scenario")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    proxies: collections.Counter[tuple[str, bool]] = collections.Counter()
    causes = total = 0
    for scenario in sorted(p for p in RECORDED.iterdir() if (p / "meta.json").is_file()):
        meta = json.loads((scenario / "meta.json").read_text())
        logs = _args(scenario, meta)
        if not logs:
            continue
        argv = [sys.executable, "-m", "why502", "diagnose", "--offline", *logs, "--format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
        try:
            findings = json.loads(done.stdout)["findings"]
        except (json.JSONDecodeError, KeyError):
            findings = []
        want = str(meta.get("proxy") or "nginx")
        got = findings[0].get("proxy") if findings else None
        right = got == want or (got is None and (want in EDGE or not findings))
        proxies[(want, right)] += 1
        cause = findings[0]["cause"] if findings else None
        total += 1
        causes += cause == meta.get("cause")
        if args.json:
            print(json.dumps({"scenario": scenario.name, "proxy": want, "named": got,
                              "cause": meta.get("cause"), "first": cause}))
    for want in sorted({w for w, _r in proxies}):
        right, wrong = proxies[(want, True)], proxies[(want, False)]
        print(f"{want:8s} proxy named right {right}/{right + wrong}")
    print(f"first cause right {causes}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
