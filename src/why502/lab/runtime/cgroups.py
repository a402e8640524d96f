"""Memory cgroups for a lab stack: a real OOM kill needs a backend in a small memory cgroup.

A child cgroup (``why502-lab-PID-XXXXXX``) is made under this process's own cgroup, so the lab
stays inside whatever the container already limits, with a memory limit and no swap; the stack
puts one of its own processes in it and removes it (``rmdir``, once empty) when it stops.
cgroup v2 and the v1 ``memory`` hierarchy are both handled; anything missing is a ``LabSkip``
with the precise reason.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from why502.lab.runtime import machine
from why502.lab.runtime.errors import LabSkip

CGROUP_ROOT = Path("/sys/fs/cgroup")


def memory_cgroup_parent() -> tuple[Path, str]:
    """Where a child memory cgroup can be made: (directory, "v1"|"v2").

    cgroup v2 (``/sys/fs/cgroup/cgroup.controllers`` lists ``memory``) or the v1 ``memory``
    hierarchy (``/sys/fs/cgroup/memory``); the child goes under this process's own cgroup so the
    lab stays inside whatever the container already limits.  Raises LabSkip with the reason.
    """
    if not machine.is_root():
        raise LabSkip("needs root: creating a memory cgroup is privileged")
    own: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    except (OSError, ValueError) as err:
        raise LabSkip(f"cannot read /proc/self/cgroup: {err}") from err
    v2 = CGROUP_ROOT / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        return CGROUP_ROOT / own.get("", "/").lstrip("/"), "v2"
    v1 = CGROUP_ROOT / "memory"
    if (v1 / "memory.limit_in_bytes").exists():
        return v1 / own.get("memory", "/").lstrip("/"), "v1"
    raise LabSkip("no writable memory cgroup controller (neither cgroup v2 with 'memory' in "
                  "/sys/fs/cgroup/cgroup.controllers nor a v1 /sys/fs/cgroup/memory hierarchy)")


class MemoryCgroups:
    """The memory cgroups one stack created (``created``), removed by name in :meth:`remove_all`."""

    def __init__(self) -> None:
        self.created: list[Path] = []

    def add(self, limit_mb: int) -> Path:
        """A child memory cgroup limited to ``limit_mb`` MiB with no swap; LabSkip with the precise
        error when cgroups are not writable here."""
        parent, version = memory_cgroup_parent()
        cg = parent / f"why502-lab-{os.getpid()}-{secrets.token_hex(3)}"
        limit = str(limit_mb << 20)
        try:
            cg.mkdir()
        except OSError as err:
            raise LabSkip(f"cannot create a memory cgroup: mkdir {cg}: {err.strerror}") from err
        self.created.append(cg)
        files = ({"memory.max": limit, "memory.swap.max": "0"} if version == "v2"
                 else {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit})
        for fname, value in files.items():
            if not (cg / fname).exists() and fname.startswith("memory.memsw"):
                continue  # v1 without swap accounting: no swap limit to set
            try:
                (cg / fname).write_text(value)
            except OSError as err:
                raise LabSkip(f"cannot limit the memory cgroup: write {cg / fname}: "
                              f"{err.strerror}") from err
        return cg

    def move(self, pid: int, cg: Path) -> None:
        """Put ``pid`` into ``cg`` (``cgroup.procs``)."""
        try:
            (cg / "cgroup.procs").write_text(str(pid))
        except OSError as err:
            raise LabSkip(f"cannot move pid {pid} into {cg}: {err.strerror}") from err

    def remove_all(self) -> None:
        for cg in reversed(self.created):
            _remove_cgroup(cg)
        self.created.clear()


def _remove_cgroup(cg: Path, wait: float = 3.0) -> None:
    """rmdir a cgroup we created once its processes are gone (bounded wait; EBUSY until then)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cg.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
