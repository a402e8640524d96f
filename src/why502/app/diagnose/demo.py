"""``why502 diagnose --demo``: the saved report of a real incident, bundled in ``why502/demo``.

The bundle holds a lab recording (``scripts/record-fixtures --demo``: nginx and PHP-FPM run for
real, the pool exhausted by slow exports) and ``report.json``, the report diagnose made of it.
``--demo`` loads that report (``Report.from_dict``) and stamps it with this run's time, host and
version; nothing is read, probed or analysed, so it works anywhere, without nginx.

``build_demo_report`` makes the report from the recording: it lays the recorded files out in a
temp dir (the recording's ``/lab`` paths made real), diagnoses them offline with the recording's
"now", uses the socket table and probes taken at the height of the incident as the live
evidence, and writes paths as ``/lab/...`` again.  ``write_demo_report`` saves it; the bundle's
test checks the saved report is what today's code makes of the recording.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from why502 import __version__
from why502.app.diagnose.gather import gather
from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.report import report_from
from why502.errors import InputError
from why502.facts.net import Listener
from why502.facts.probes import ProbeResult
from why502.findings.model import Report
from why502.proxies import SCHEMA_1_CONFIG
from why502.reporters.json.report import to_json

REPORT_FILE = "report.json"


def bundle_dir() -> Traversable:
    """The bundled recording (``why502/demo``)."""
    return resources.files("why502").joinpath("demo")


def demo_report() -> Report:
    """The bundled incident's saved report, stamped with this run (time, host, version)."""
    started = time.monotonic()
    try:
        report = Report.from_dict(json.loads(bundle_dir().joinpath(REPORT_FILE).read_text("utf-8")))
    except (OSError, ValueError) as err:
        raise InputError(f"the demo report is missing or broken: {err}") from None
    return replace(report, inputs={**report.inputs,
                                   "elapsed_ms": round((time.monotonic() - started) * 1000)},
                   generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
                   host=socket.gethostname(), tool_version=__version__)


def build_demo_report(bundle: Traversable | None = None) -> Report:
    """Diagnose the bundled recording (offline) as ``--demo`` shows it."""
    bundle = bundle or bundle_dir()
    try:
        manifest: dict[str, Any] = json.loads(bundle.joinpath("manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"the demo bundle is missing or broken: {err}") from None
    if str(manifest.get("format", "")).split(".")[0] != "1":
        raise InputError(f"unsupported demo bundle format {manifest.get('format')!r}")
    placeholder = manifest.get("root_placeholder", "/lab")
    tmp = Path(tempfile.mkdtemp(prefix="why502-demo-"))
    try:
        where: dict[str, Path] = {}
        for recorded, name in manifest["tree"].items():
            dest = tmp / recorded[len(placeholder) + 1:]
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = bundle.joinpath(name).read_bytes().decode("utf-8", errors="replace")
            dest.write_text(text.replace(placeholder, str(tmp)), encoding="utf-8")
            where[name] = dest
        files = manifest["files"]
        opts = DiagnoseOptions(
            default_proxy_config=str(where[files[SCHEMA_1_CONFIG]]),
            error_logs=[str(where[f]) for f in files.get("error_logs", [])],
            access_logs=[str(where[f]) for f in files.get("access_logs", [])],
            fpm_conf=str(where[files["fpm_conf"]]) if files.get("fpm_conf") else None,
            fpm_logs=[str(where[f]) for f in files.get("fpm_logs", [])],
            offline=True,
            now=datetime.fromisoformat(manifest["now"]) if manifest.get("now") else None)
        started = time.monotonic()
        g = gather(opts)
        # the live evidence recorded at the height of the incident (paths under the temp dir)
        snap = json.loads(json.dumps(manifest.get("snapshot") or {}).replace(placeholder, str(tmp)))
        listeners = tuple(Listener.from_dict(x) for x in snap.get("listeners", []))
        probes = {}
        for raw in snap.get("probes", []):
            t = raw.get("target", {})
            key = (f"unix:{t['unix_path']}" if t.get("unix_path") else
                   f"{t.get('host')}:{t.get('port')}")
            probes[key] = ProbeResult.from_dict(raw)
            g.probe_dicts[key] = raw
        ev = g.evidence
        g = replace(g, evidence=replace(
            ev, host=replace(ev.host, listeners=listeners or ev.host.listeners),
            live=replace(ev.live, probes=probes or ev.live.probes)),
                    inputs={**g.inputs, "demo": True, "demo_title": manifest.get("title"),
                            "recorded_at": manifest.get("recorded_at")})
        report = report_from(g, started)
        # the files were temp copies: a hash of them pins nothing (and a demo fix is never applied)
        report = replace(report, findings=[replace(f, fix=replace(f.fix, hashes={})) if f.fix else f
                                           for f in report.findings])
        # every path as the recording wrote it (/lab/...), not this run's temp dir
        doc = json.loads(json.dumps(report.to_dict()).replace(str(tmp), placeholder))
        return Report.from_dict(doc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_demo_report(bundle: Path) -> Path:
    """Diagnose the recording in ``bundle`` and save its report there (``report.json``), without
    what ``demo_report`` stamps at each run (time, host, version, elapsed time)."""
    report = saved_form(build_demo_report(bundle))
    path = bundle / REPORT_FILE
    path.write_text(to_json(report), encoding="utf-8")
    return path


def saved_form(report: Report) -> Report:
    """``report`` as ``report.json`` keeps it: no run stamps."""
    inputs = {k: v for k, v in report.inputs.items() if k != "elapsed_ms"}
    return replace(report, inputs=inputs, generated_at=None, host=None, tool_version=None)
