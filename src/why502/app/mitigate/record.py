"""The state record of ``why502 mitigate``: one small JSON file per mitigation in
``STATE_DIR/mitigations/`` (beside ``why502 fix``'s journals, under the same lock), saying what
is in force, since when and why, and how to undo it: the change set of ``fix`` that wrote the
config (undone byte for byte by ``fix``'s undo), or the runtime commands sent to HAProxy and the
state each server had before.

The record is written (fsynced, atomically) *before* a runtime command is sent, so a run killed
in between still leaves a record that ``--list`` shows and ``--revert`` undoes.  A record is
input to ``--revert``: every field is type-checked on load; a damaged one stops the command
with one line (exit 3), never a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from why502.app.fix.atomic import FileMeta, atomic_write
from why502.app.fix.journal import new_id, now, read_own_record
from why502.errors import InputError

DIRECTORY = "mitigations"
MAX_RECORD = 1 << 20

APPLYING = "applying"  # recorded, not yet applied (or killed while applying)
IN_FORCE = "in-force"
REVERTED = "reverted"
FAILED = "failed"  # verification failed: rolled back
STATES = frozenset({APPLYING, IN_FORCE, REVERTED, FAILED})
KINDS = frozenset({"take-out", "fallback", "timeout"})


@dataclass
class RuntimeStep:
    """One HAProxy runtime-API change: ``set server BACKEND/SERVER state <after>``, undone with
    ``state <before>``."""

    socket: str
    backend: str
    server: str
    before: str
    after: str


@dataclass
class Mitigation:
    id: str
    kind: str  # take-out | fallback | timeout
    proxy: str
    config: str
    group: str
    servers: list[str]
    why: str
    since: str
    state: str = APPLYING
    change_set: str | None = None  # fix's change set that wrote the config
    runtime: list[RuntimeStep] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    # file -> the diff that takes the mitigation out again, for a revert after another change
    # (``why502 fix``) was made to the same file since: only the mitigation's lines go
    undo_diffs: dict[str, str] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)  # the servers' addresses, probed by --list

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_mitigation_id() -> str:
    """``M20261123T091500-123456-4242``: sortable, and what the config comment names."""
    return "M" + new_id()


def _text(d: dict[str, Any], key: str, optional: bool = False) -> Any:
    v = d.get(key)
    if (v is None and optional) or isinstance(v, str):
        return v
    raise ValueError(f"'{key}' is not text")


def from_dict(data: object) -> Mitigation:
    """A record, every field checked (``ValueError`` names the wrong one)."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    servers, history, runtime = data.get("servers"), data.get("history"), data.get("runtime")
    addresses = data.get("addresses", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise ValueError("'servers' is not a list of text")
    if not isinstance(addresses, list) or not all(isinstance(s, str) for s in addresses):
        raise ValueError("'addresses' is not a list of text")
    if not isinstance(history, list) or not all(isinstance(s, str) for s in history):
        raise ValueError("'history' is not a list of text")
    if not isinstance(runtime, list):
        raise ValueError("'runtime' is not a list")
    steps = []
    for step in runtime:
        if not isinstance(step, dict) or not all(isinstance(step.get(k), str) for k in
                                                  ("socket", "backend", "server", "before", "after")):
            raise ValueError("a 'runtime' step is not socket/backend/server/before/after text")
        steps.append(RuntimeStep(step["socket"], step["backend"], step["server"], step["before"],
                                 step["after"]))
    undo = data.get("undo_diffs", {})
    if not isinstance(undo, dict) or not all(isinstance(k, str) and isinstance(v, str) and os.path.isabs(k)
                                             for k, v in undo.items()):
        raise ValueError("'undo_diffs' is not a map of absolute paths to text")
    m = Mitigation(_text(data, "id"), _text(data, "kind"), _text(data, "proxy"), _text(data, "config"),
                   _text(data, "group"), servers, _text(data, "why"), _text(data, "since"),
                   _text(data, "state"), _text(data, "change_set", True), steps, history, undo, addresses)
    if m.state not in STATES or m.kind not in KINDS:
        raise ValueError(f"unknown state or kind ({m.state[:20]!r}, {m.kind[:20]!r})")
    return m


def save(state_dir: Path, m: Mitigation, state: str | None = None, message: str = "") -> None:
    """Record ``m`` (moved to ``state``, ``message`` in its history) durably."""
    if state is not None:
        m.state = state
        m.history.append(f"{now()} {state}" + (f": {message}" if message else ""))
    directory = state_dir / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (json.dumps(m.to_dict(), indent=2) + "\n").encode()
    atomic_write(str(directory / f"{m.id}.json"), data, FileMeta(0o600, os.geteuid(), os.getegid()))


def load_all(state_dir: Path) -> list[Mitigation]:
    """Every mitigation, oldest first; a damaged record stops with one line (exit 3)."""
    directory = state_dir / DIRECTORY
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("M*.json")):
        try:
            raw = read_own_record(path, MAX_RECORD)
            m = from_dict(json.loads(raw.decode("utf-8")))
            if f"{m.id}.json" != path.name:
                raise ValueError("its id is not its file's name")
        except (OSError, ValueError, RecursionError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise InputError(f"{path}: damaged mitigation record ({reason[:160]}): why502 mitigate cannot "
                             f"tell what it changed; check by hand, then move it out of {directory}") \
                from None
        out.append(m)
    return out
