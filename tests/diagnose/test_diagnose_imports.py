"""A diagnose of the default proxy's config imports no other proxy's config reader, nor the other
commands' result types (issue 28 item 1: start-up).  Every run scores the config against every
proxy (``proxies.detect_text``); each proxy's sniff lives in its ``detect.py``, so recognising a
config costs no reader.  No timing here (the figures are in BENCHMARKS.md, "2026-11-25 (stop
41)"): the guard is which modules a real run leaves in ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import FIXTURES_DIR
from why502 import proxies

PROBE = r"""
import contextlib, io, json, sys
from why502.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["diagnose", "--offline", "--format", "json", "--config", sys.argv[1],
                 "--kernel-log", sys.argv[2]])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("why502."))}))
"""

# the readers of the other proxies' configs (their modules that a detection used to import)
READERS = ("config", "dump", "caddyfile")


def _recorded(tmp_path: Path) -> Path:
    """The recorded ``all-upstreams-down`` run (a real nginx's config and logs), its ``/lab``
    put back to this copy."""
    src = FIXTURES_DIR / "recorded" / "all-upstreams-down"
    for f in src.iterdir():
        (tmp_path / f.name).write_text(f.read_text().replace("/lab", str(tmp_path)))
    return tmp_path / "nginx.conf"


def test_default_proxy_run_imports_no_other_proxys_reader(tmp_path: Path) -> None:
    conf = _recorded(tmp_path)
    empty = tmp_path / "kern.log"
    empty.write_text("")
    res = subprocess.run([sys.executable, "-c", PROBE, str(conf), str(empty)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["code"] in (0, 1)  # a report, healthy or not: the run went through
    loaded = set(out["modules"])
    others = [name for name in proxies.FOLDERS if name != proxies.DEFAULT]
    assert others and all(f"why502.proxies.{name}.proxy" in loaded for name in others)  # all scored
    readers = sorted(m for m in loaded for name in others
                     if m.startswith(f"why502.proxies.{name}.") and m.rsplit(".", 1)[1] in READERS)
    assert readers == []
    # an edge's log reader (``app.stats.lb``) is for a load balancer's or edge proxy's log only;
    # the other commands' result types (stats, classify, fleet, watch; lint's) are theirs
    assert not {"why502.app.stats.lb", "why502.findings.results", "why502.findings.lint"} & loaded
