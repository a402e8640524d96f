"""Network namespaces for a lab stack: create, set per-namespace sysctls, join, enter, delete.

Some causes only show with a kernel setting nobody should change on the host (a 4-port
``ip_local_port_range``) or a second host (a route that makes it unreachable).  The lab makes them
in namespaces of its own, named with :data:`NETNS_PREFIX`, joins two of them with a veth pair whose
addresses come from the lab-private :data:`LAB_NET` range (they exist only inside those namespaces,
never in the host's, never routed anywhere), and deletes exactly those namespaces by name when
the stack stops.  Only ``net.*`` sysctls, which are per namespace, may be set.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from why502.lab.runtime import machine
from why502.lab.runtime.errors import LabError, LabSkip

NETNS_PREFIX = "why502-"
NETNS_DIR = Path("/run/netns")
LAB_NET = "10.251."
CLONE_NEWNET = 0x40000000  # <sched.h>; os.setns() only exists from Python 3.12


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open at ``fd`` (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise LabError(f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


@dataclass(frozen=True)
class NetNamespace:
    """A network namespace this stack created (``ip netns add NAME``) and deletes in ``stop()``."""

    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def prefix(self) -> list[str]:
        """argv prefix that runs a program inside it: ``nsenter --net=/run/netns/NAME --`` (the
        program keeps nsenter's PID: nsenter execs it after setns(2), no fork)."""
        return [shutil.which("nsenter") or "nsenter", f"--net={self.path}", "--"]


class Namespaces:
    """The network namespaces one stack created, and the one its programs run in (``current``).

    ``serial`` numbers the veth pairs (the stack's own counter, shared with backend names).
    """

    def __init__(self, serial: Callable[[], int]) -> None:
        self.created: list[NetNamespace] = []
        self.current: NetNamespace | None = None
        self._serial = serial

    def add(self, label: str = "lab") -> NetNamespace:
        """Create a fresh network namespace (only ``lo``, brought up) owned by this stack."""
        why = machine.netns_unavailable()
        if why:
            raise LabSkip(why)
        ns = NetNamespace(f"{NETNS_PREFIX}{label}-{os.getpid()}-{secrets.token_hex(3)}")
        res = subprocess.run(["ip", "netns", "add", ns.name], capture_output=True, text=True,
                             timeout=10, check=False)
        if res.returncode != 0:
            raise LabSkip(f"cannot create a network namespace (ip netns add): {res.stderr.strip()}")
        self.created.append(ns)
        self._ip(ns, "link", "set", "lo", "up")
        return ns

    def use(self, sysctls: dict[str, str] | None = None) -> NetNamespace:
        """Create the namespace the stack's programs and client will run in, with its sysctls."""
        ns = self.add("lab")
        self.current = ns
        for key, value in (sysctls or {}).items():
            self.sysctl(ns, key, value)
        return ns

    def sysctl(self, ns: NetNamespace, key: str, value: str) -> None:
        """Set a per-namespace ``net.*`` sysctl inside ``ns`` (never the host's)."""
        if not key.startswith("net."):
            raise LabError(f"only per-namespace net.* sysctls may be set, not {key}")
        proc = Path("/proc/sys") / key.replace(".", "/")
        self._run_in(ns, ["sh", "-c", 'echo "$1" > "$2"', "sh", value, str(proc)])
        got = self._run_in(ns, ["cat", str(proc)]).split()
        if got != value.split():
            raise LabError(f"{key} is {' '.join(got)!r} in {ns.name}, wanted {value!r}")

    def link(self, a: NetNamespace, b: NetNamespace, addr_a: str, addr_b: str,
             prefix_len: int = 30) -> tuple[str, str]:
        """Join two of this stack's namespaces with a veth pair created inside ``a`` (its peer
        moved straight into ``b``: the host namespace never sees it).  Returns the two device
        names.  Addresses must be in the lab range ``10.251.0.0/16``."""
        if a not in self.created or b not in self.created:
            raise LabError("link_netns joins namespaces this stack created only")
        if not (addr_a.startswith(LAB_NET) and addr_b.startswith(LAB_NET)):
            raise LabError(f"lab namespace addresses come from {LAB_NET}0.0/16 only")
        n = self._serial()
        dev_a, dev_b = f"w502a{n}", f"w502b{n}"
        self._ip(a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", b.name)
        self._ip(a, "addr", "add", f"{addr_a}/{prefix_len}", "dev", dev_a)
        self._ip(b, "addr", "add", f"{addr_b}/{prefix_len}", "dev", dev_b)
        self._ip(a, "link", "set", dev_a, "up")
        self._ip(b, "link", "set", dev_b, "up")
        return dev_a, dev_b

    def ip(self, ns: NetNamespace, *args: str) -> None:
        """``ip -n NAME ARGS`` in one of this stack's namespaces (routes, links)."""
        if ns not in self.created:
            raise LabError("netns_ip works on namespaces this stack created only")
        self._ip(ns, *args)

    def _ip(self, ns: NetNamespace, *args: str) -> None:
        res = subprocess.run(["ip", "-n", ns.name, *args], capture_output=True, text=True,
                             timeout=10, check=False)
        if res.returncode != 0:
            raise LabError(f"ip -n {ns.name} {' '.join(args)}: {res.stderr.strip()}")

    def _run_in(self, ns: NetNamespace, argv: list[str]) -> str:
        res = subprocess.run([*ns.prefix(), *argv], capture_output=True, text=True, timeout=10,
                             check=False)
        if res.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {ns.name}: {res.stderr.strip()}")
        return res.stdout

    @contextlib.contextmanager
    def inside(self, ns: NetNamespace | None = None) -> Iterator[None]:
        """Run the body with the calling *thread* in ``ns`` (default: ``current``; no-op without
        one): sockets made there belong to it.  Threads started inside inherit it."""
        ns = ns or self.current
        if ns is None:
            yield
            return
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(ns.path, os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)

    def delete_all(self) -> None:
        """``ip netns del`` every namespace this stack created, newest first."""
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=10, check=False)
        self.created.clear()
        self.current = None
