"""Build the demo bundle (``why502/demo/``) from a real lab incident.

``why502 diagnose --demo`` must work on a fresh machine without nginx, so the bundle carries a
recorded incident: the lab scenario ``demo-fpm-exhausted`` run for real, its config and logs
(temp dir replaced by ``/lab``), and a snapshot of the listening sockets and live probe results
taken at the height of the incident.  The manifest format is documented in
``why502/demo/README.md``; rebuild with ``scripts/record-fixtures --demo``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any

from why502.lab.record import ROOT_PLACEHOLDER, lab_log_format, normalise, versions
from why502.lab.runtime import Stack
from why502.lab.scenarios import RECORDINGS

DEMO_SCENARIO = "demo-fpm-exhausted"
MANIFEST_FORMAT = 1
KEEP_FILES = ("README.md",)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def take_snapshot(stack: Stack) -> dict[str, Any]:
    """Listeners of the stack and a live probe of every PHP-FPM pool and backend, right now."""
    from why502.sources.listeners import read_listeners
    from why502.sources.probes import ProbeTarget, probe

    root = str(stack.root)
    ports = {b.port for b in stack.backends.values()} | {stack.nginx_port}
    listeners = [
        lst for lst in read_listeners()
        if (lst.path or "").startswith(root) or (lst.proto != "unix" and lst.port in ports)
    ]
    probes = []
    for pool in stack.pools.values():
        if pool.listen.startswith("/"):
            target = ProbeTarget(kind="fastcgi", unix_path=pool.listen)
        else:
            host, _, port = pool.listen.rpartition(":")
            target = ProbeTarget(kind="fastcgi", host=host, port=int(port))
        probes.append(probe(target, timeout=1.0))
    for backend in stack.backends.values():
        probes.append(probe(ProbeTarget(kind="proxy", host=backend.host, port=backend.port), timeout=1.0))
    snap = {
        "taken_at": _dt.datetime.now().replace(microsecond=0).isoformat(),
        "listeners": [_jsonable(lst) | {"endpoint": lst.endpoint} for lst in listeners],
        "probes": [_jsonable(p) for p in probes],
    }
    text = normalise(json.dumps(snap), stack)
    result: dict[str, Any] = json.loads(text)
    return result


def build_demo(dest: Path) -> dict[str, Any]:
    """Run the demo incident for real and write the bundle into ``dest``; returns the manifest."""
    scenario = RECORDINGS[DEMO_SCENARIO]
    snapshot: dict[str, Any] = {}

    def hook(stack: Stack) -> None:
        snapshot.update(take_snapshot(stack))

    with Stack() as stack:
        run = scenario.run(stack, snapshot_hook=hook)
        unmet = scenario.unmet(run)
        if unmet:
            from why502.lab.runtime import LabError

            raise LabError(f"the demo incident did not produce: {unmet}")
        ended = _dt.datetime.now().replace(microsecond=0)
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.iterdir():
            if old.name in KEEP_FILES:
                continue
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        p = stack.p
        tree = {
            "nginx.conf": p.nginx_conf,
            "error.log": p.error_log,
            "access.log": p.access_log,
            "php-fpm.conf": p.fpm_conf,
            "php-fpm.log": p.fpm_log,
            "php-fpm-slow.log": p.root / "logs" / "php-fpm-slow.log",
        }
        for pool in sorted(p.fpm_pool_dir.glob("*.conf")):
            tree[f"pool-{pool.name}"] = pool
        placed: dict[str, str] = {}
        for name, src in tree.items():
            if not src.exists():
                continue
            (dest / name).write_text(normalise(src.read_text(errors="replace"), stack))
            placed[ROOT_PLACEHOLDER + "/" + str(src.relative_to(p.root))] = name
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
            "story": [normalise(s, stack) for s in run.steps],
            "expected": {"cause": scenario.cause, "symptoms": list(scenario.symptoms)},
            "root_placeholder": ROOT_PLACEHOLDER,
            "files": {
                "nginx_conf": "nginx.conf",
                "error_logs": ["error.log"],
                "access_logs": ["access.log"],
                "fpm_conf": "php-fpm.conf",
                "fpm_logs": ["php-fpm.log"],
                "fpm_slowlogs": ["php-fpm-slow.log"] if "php-fpm-slow.log" in placed.values() else [],
            },
            "tree": placed,
            "log_format": lab_log_format(),
            "now": ended.isoformat(),
            "responses": [{"request": label, "status": status} for label, status in run.responses],
            "snapshot": snapshot,
            "versions": versions(),
            "recorded_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "recorded_by": "scripts/record-fixtures --demo (why502.lab.demo)",
        }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
