"""The fault matrix: faults x proxies x backends x traffic x noise, generated, not hand-written.

Why: the hand-written lab scenarios are diagnosed right 100% of the time because the rules were
written while looking at them (issue 25).  The matrix declares its dimensions and generates every
cell that makes sense, so most cells are combinations nobody wrote a rule for: a fault behind a
proxy it was never shown on, on the other loopback family, under bursty or POST traffic, on a
noisy host.

Each cell is run as a user would meet it: a real proxy (nginx, HAProxy, Apache httpd) in front of
a real backend (``lab/assets/backend.py`` in the fault's mode) on loopback, in a temp dir, random
ports; bounded traffic; then the cell **proves its fault from the proxy's own log** (``proof``: the
text the proxy writes for it, from its source) before ``why502 diagnose`` runs.  A fault that did
not show in the proxy's log is a harness failure, never a pass.  ``diagnose`` is the command
itself (``python -m why502 diagnose ... --format json`` in a child process, live checks on, while
the stack still runs), and each cell also checks the invariants of issue 25 item 4 that one run
can show: clients got proxy-made 5xx -> never healthy, never exit 0; a finding that names a
backend names the failing one.

Dimensions (``FAULTS``, ``PROXIES``, ``BACKENDS``, ``TRAFFIC``, ``NOISE``) are data; ``cells()``
is their product, filtered by what each fault declares it can run on.  ``sample(k, seed)`` takes a
stratified sample (every proxy x fault first, then at random) for the suite; ``why502 lab matrix``
runs all of it or a sample, with a seed.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from why502.lab.runtime import LabError, LabSkip, Response, Stack
from why502.lab.runtime.backends import Backend
from why502.lab.scenarios.common import dead_port, server
from why502.lab.scenarios.model import ScenarioRun

PROXIES: tuple[str, ...] = ("nginx", "haproxy", "apache")
# The loopback family the backend listens on: a proxy's target is an address, and the families
# take different paths through the config readers (``[::1]:PORT``) and the probes.
BACKENDS: tuple[str, ...] = ("tcp4", "tcp6")
# steady: a few sequential GETs; bursty: concurrent bursts with idle gaps (a reused keep-alive
# connection idles there); post: POSTs with a body (not retried by a proxy once sent).
TRAFFIC: tuple[str, ...] = ("steady", "bursty", "post")
# quiet: only the fault; noisy: a real host's baseline laid over it (lab.noise: other jobs' OOM
# kills and segfaults, an old incident in the rotated log, scanners and client aborts).
NOISE: tuple[str, ...] = ("quiet", "noisy")

SLOW_DELAY = 2.5  # s the slow backend takes
PROXY_TIMEOUT = 1  # s the proxy waits for a response (read timeout / timeout server / ProxyTimeout)
KEEPALIVE_IDLE = 0.3  # s after which the keep-alive-closing backend drops an idle connection


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong behind the proxy.

    ``mode`` is the lab backend's mode (None: nothing listens); ``proof`` maps each proxy the
    fault can happen behind to the text that proxy logs for it (the same texts its lab
    scenarios prove, cited there from each proxy's source).  ``traffic`` lists the shapes that
    provoke it; ``made_by_proxy`` says whether the client's 5xx is the proxy's own (the backend's
    own 502 is relayed, not made)."""

    name: str
    cause: str
    mode: str | None
    proof: dict[str, str]
    traffic: tuple[str, ...] = TRAFFIC
    made_by_proxy: bool = True
    keepalive: bool = False  # the proxy must reuse upstream connections

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(p for p in PROXIES if p in self.proof)


# HAProxy's httplog line: "... fe app/web1 T/T/T/T/T STATUS BYTES - - STATE ..." (configuration.txt
# 8.2.3, 8.5 termination states: first letter who ended it, second at which phase).
_HA = r"fe app/\S+ [-\d/]+ "

FAULTS: tuple[Fault, ...] = (
    Fault("stopped", "backend-not-running", None, {
        "nginx": r"connect\(\) failed \(111: Connection refused\)",
        "haproxy": _HA + r"503 \d+ - - SC--",
        "apache": r"\(111\)Connection refused: AH00957",
    }),
    Fault("slow", "backend-too-slow", "slow", {
        "nginx": r"upstream timed out \(110: Connection timed out\) while reading response header",
        "haproxy": _HA + r"504 \d+ - - sH--",
        "apache": r"\(70007\)The timeout specified has expired",
    }, traffic=("steady", "post")),
    Fault("crash", "backend-crashed", "crash", {
        "nginx": r"upstream prematurely closed connection while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"AH01102: error reading status line from remote server",
    }),
    Fault("reset", "backend-crashed", "reset", {
        "nginx": r"recv\(\) failed \(104: Connection reset by peer\) while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"\(104\)Connection reset by peer",
    }),
    Fault("bad-status-line", "backend-invalid-response", "bad-status-line", {
        "nginx": r"upstream sent no valid HTTP/1\.0 header",
        "haproxy": _HA + r"502 \d+ - - PH--",
    }, traffic=("steady", "bursty")),
    Fault("backend-5xx", "upstream-returned-5xx", "status502", {
        "nginx": r'" 502 .*upstream_status="502"',
        "haproxy": _HA + r"502 \d+ - - ----",
        "apache": r'" 502 ',
    }, traffic=("steady", "bursty"), made_by_proxy=False),
    Fault("keepalive-close", "keepalive-race", "keepalive-closer", {
        "nginx": r"recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed",
    }, traffic=("post",), keepalive=True),
)


@dataclass(frozen=True)
class Cell:
    """One combination: a fault behind a proxy, on a backend family, under traffic, with noise."""

    fault: Fault
    proxy: str
    backend: str
    traffic: str
    noise: str

    @property
    def name(self) -> str:
        return f"{self.fault.name}-{self.proxy}-{self.backend}-{self.traffic}-{self.noise}"


def cells() -> list[Cell]:
    """Every cell that makes sense: the product of the dimensions, each fault on the proxies
    whose log can prove it and the traffic shapes that provoke it."""
    return [Cell(f, p, b, t, n) for f in FAULTS for p in f.proxies for b in BACKENDS
            for t in f.traffic for n in NOISE]


def sample(k: int, seed: int, pool: Sequence[Cell] | None = None) -> list[Cell]:
    """``k`` cells (all when there are fewer), stratified: one of every proxy x fault first (so
    no pair is left out of a small sample), then at random; the order is the seed's."""
    rng = random.Random(seed)
    pool = list(cells() if pool is None else pool)
    rng.shuffle(pool)
    picked: list[Cell] = []
    seen: set[tuple[str, str]] = set()
    for cell in pool:
        if (cell.proxy, cell.fault.name) not in seen:
            seen.add((cell.proxy, cell.fault.name))
            picked.append(cell)
    rest = [c for c in pool if c not in picked]
    picked += rest[: max(0, k - len(picked))]
    return picked[:k] if k < len(picked) else picked


@dataclass
class CellResult:
    """What one cell did: whether the fault showed in the proxy's log, what diagnose said."""

    cell: str
    proxy: str
    fault: str
    backend: str
    traffic: str
    noise: str
    expected: str
    reproduced: bool = False
    got: str | None = None
    others: list[str] = field(default_factory=list)
    confidence: float | None = None
    exit_code: int | None = None
    healthy: bool | None = None
    statuses: list[int | None] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def right(self) -> bool:
        return self.reproduced and self.got == self.expected and not self.violations

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "right": self.right}


def _address(backend: Backend | None, family: str, port: int) -> str:
    if backend is not None:
        return backend.address
    return f"[::1]:{port}" if family == "tcp6" else f"127.0.0.1:{port}"


def _host(family: str) -> str:
    return "::1" if family == "tcp6" else "127.0.0.1"


def _start_proxy(stack: Stack, cell: Cell, address: str) -> None:
    """The proxy in front of ``address``, with a short response timeout, in its own words."""
    if cell.proxy == "nginx":
        if cell.fault.keepalive:
            stack.start_nginx(
                f"upstream app {{\n    server {address};\n    keepalive 8;\n    keepalive_timeout 60s;\n}}\n"
                + server(stack, f"location / {{\n    proxy_pass http://app;\n    proxy_http_version 1.1;\n"
                                f"    proxy_set_header Connection \"\";\n"
                                f"    proxy_read_timeout {PROXY_TIMEOUT}s;\n}}\n"))
        else:
            stack.start_nginx(server(stack, f"location / {{\n    proxy_pass http://{address};\n"
                                            f"    proxy_read_timeout {PROXY_TIMEOUT}s;\n}}\n"))
    elif cell.proxy == "haproxy":
        # retries 0: a refused connect is otherwise retried after 1 s (backend.c)
        stack.start_haproxy(f"server web1 {address}",
                            defaults=f"retries 0\ntimeout server {PROXY_TIMEOUT}s")
    elif cell.proxy == "apache":
        stack.start_apache(f"ProxyTimeout {PROXY_TIMEOUT}\nProxyPass / http://{address}/\n")
    else:  # pragma: no cover - FAULTS only names the proxies above
        raise LabError(f"the matrix has no runtime for {cell.proxy}")


def _traffic(stack: Stack, shape: str, idle_gap: float) -> list[Response]:
    """Bounded requests in ``shape`` (at most 8, each with the stack's short client timeout)."""
    if shape == "steady":
        return stack.requests("/orders", count=4)
    if shape == "bursty":
        out = stack.requests("/orders", count=3, concurrency=3)
        time.sleep(idle_gap)
        return out + stack.requests("/orders", count=3, concurrency=3)
    out = []
    for _ in range(4):  # post: one at a time, idle between, a body the proxy must not replay
        out.append(stack.request("/orders", method="POST", body=b"x" * 2048))
        time.sleep(idle_gap)
    return out


def build(cell: Cell) -> Callable[[Stack, ScenarioRun], None]:
    """The scenario function of ``cell``: start the backend and the proxy, send the traffic."""

    def provoke(stack: Stack, run: ScenarioRun) -> None:
        fault = cell.fault
        backend = None
        port = dead_port()
        if fault.mode is not None:
            backend = stack.add_backend(fault.mode, host=_host(cell.backend),
                                        delay=SLOW_DELAY if fault.mode == "slow" else 0.0,
                                        idle_timeout=KEEPALIVE_IDLE)
        address = _address(backend, cell.backend, port)
        _start_proxy(stack, cell, address)
        run.steps.append(f"{cell.proxy} -> {address} ({fault.mode or 'nothing listens'}), "
                         f"{cell.traffic} traffic")
        # the keep-alive race needs the idle gap to be longer than the backend's idle timeout
        gap = KEEPALIVE_IDLE * 2 if fault.keepalive else 0.5
        run.record(cell.traffic, _traffic(stack, cell.traffic, gap))

    return provoke


def _diagnose_argv(run: ScenarioRun) -> list[str]:
    """``why502 diagnose`` as a user would type it for this run's files (live checks on)."""
    argv = [sys.executable, "-m", "why502", "diagnose", "--format", "json"]
    if run.proxy == "nginx":
        argv += ["--config", str(run.nginx_conf), "--access-log", str(run.access_log)]
    else:
        argv += ["--proxy", run.proxy, "--config", str(run.config)]
        if run.access_log is not None:
            argv += ["--access-log", str(run.access_log)]
    argv += ["--error-log", str(run.error_log), "--kernel-log", str(run.kernel_log)]
    return argv


def _named_backend_ok(finding: dict[str, object], address: str) -> bool:
    """A finding that names a backend names the failing one (its port), never a healthy peer."""
    named = str(finding.get("target") or finding.get("upstream") or "")
    port = address.rsplit(":", 1)[-1]
    if not named or named.startswith("unix:") or not re.search(r":\d+$", named):
        return True
    return named.rsplit(":", 1)[-1] == port


def run_cell(cell: Cell) -> CellResult:
    """Run one cell end to end (see the module docstring)."""
    from why502.lab.scenarios.model import Scenario

    result = CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name, backend=cell.backend,
                        traffic=cell.traffic, noise=cell.noise, expected=cell.fault.cause)
    log = "access" if cell.fault.name == "backend-5xx" and cell.proxy != "haproxy" else "error"
    scenario = Scenario(name=cell.name, cause=cell.fault.cause, title=cell.name, description=cell.name,
                        symptoms=(), expect=((log, cell.fault.proof[cell.proxy]),), func=build(cell),
                        needs=("ipv6",) if cell.backend == "tcp6" else (), proxy=cell.proxy)
    start = time.monotonic()
    try:
        with Stack() as stack:
            run = scenario.run(stack, noisy=cell.noise == "noisy")
            result.statuses = [status for _label, status in run.responses]
            unmet = scenario.unmet(run)
            result.reproduced = not unmet
            if unmet:
                result.error = f"the fault did not show in the proxy's log: {unmet[0]}"
                return result
            if run.kernel_log is None:
                run.kernel_log = stack.write_file("logs/kernel.log", "")
            proc = subprocess.run(_diagnose_argv(run), capture_output=True, text=True, timeout=120,
                                  check=False, stdin=subprocess.DEVNULL)
    except LabSkip:
        raise
    except (LabError, subprocess.TimeoutExpired, OSError) as err:
        result.error = f"{type(err).__name__}: {err}"
        return result
    finally:
        result.seconds = round(time.monotonic() - start, 1)
    result.exit_code = proc.returncode
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        result.error = f"diagnose printed no JSON (exit {proc.returncode}): {proc.stderr.strip()[-200:]}"
        return result
    findings = report.get("findings") or []
    result.healthy = bool(report.get("healthy"))
    result.got = findings[0]["cause"] if findings else None
    result.others = [f["cause"] for f in findings[1:4]]
    result.confidence = findings[0].get("confidence") if findings else None
    # a host whose proxy served 5xx is never healthy, whoever made them (the proxy, or the
    # backend whose 5xx the proxy relayed)
    served_5xx = any(s is not None and s >= 500 for s in result.statuses)
    if served_5xx and (result.healthy or proc.returncode == 0):
        who = "proxy-made" if cell.fault.made_by_proxy else "relayed"
        result.violations.append(f"clients got {who} 5xx, diagnose said healthy / exit 0")
    address_port = _cell_port(run)
    if findings and address_port and not _named_backend_ok(findings[0], address_port):
        named = findings[0].get("target")
        result.violations.append(f"the top finding names {named}, not the failing backend")
    return result


def _cell_port(run: ScenarioRun) -> str | None:
    """The failing backend's ``host:port`` as the run's steps recorded it."""
    for step in run.steps:
        m = re.search(r"-> (\S+) \(", step)
        if m:
            return m.group(1)
    return None


@dataclass
class MatrixTable:
    """Cells right / run, per proxy, per cause, per backend, per traffic, per noise."""

    results: list[CellResult]

    def rows(self, key: str) -> list[tuple[str, int, int, int]]:
        """(value, right, reproduced, run) per value of ``key``."""
        groups: dict[str, list[CellResult]] = {}
        for r in self.results:
            groups.setdefault(str(getattr(r, key)), []).append(r)
        return [(k, sum(r.right for r in v), sum(r.reproduced for r in v), len(v))
                for k, v in sorted(groups.items())]

    def markdown(self) -> str:
        total = len(self.results)
        right = sum(r.right for r in self.results)
        reproduced = sum(r.reproduced for r in self.results)
        healthy_5xx = sum(any("proxy-made 5xx" in v for v in r.violations) for r in self.results)
        healthy_relayed = sum(any("relayed 5xx" in v for v in r.violations) for r in self.results)
        out = [f"**{right}/{reproduced} reproduced cells right** ({total} run; "
               f"{total - reproduced} did not reproduce: harness failures, not passes); "
               f"{healthy_5xx} reported healthy under proxy-made 5xx, {healthy_relayed} under "
               "relayed 5xx.", ""]
        for key, title in (("proxy", "proxy"), ("expected", "cause"), ("backend", "backend"),
                           ("traffic", "traffic"), ("noise", "noise")):
            out += [f"| {title} | right | reproduced | run |", "|---|---|---|---|"]
            out += [f"| {k} | {a} | {b} | {c} |" for k, a, b, c in self.rows(key)]
            out.append("")
        misses = [r for r in self.results if not r.right]
        if misses:
            out += ["| miss | expected | got | why |", "|---|---|---|---|"]
            out += [f"| {r.cell} | {r.expected} | {r.got or '-'} | "
                    f"{(r.error or '; '.join(r.violations) or 'wrong cause ranked first')[:120]} |"
                    for r in misses]
        return "\n".join(out) + "\n"


def run_cells(selected: Iterable[Cell], on_result: Callable[[CellResult], None] | None = None,
              ) -> MatrixTable:
    """Run ``selected`` one after another (each bounded: ~10 requests, 120 s for diagnose)."""
    results = []
    for cell in selected:
        try:
            res = run_cell(cell)
        except LabSkip as err:
            res = CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name, backend=cell.backend,
                             traffic=cell.traffic, noise=cell.noise, expected=cell.fault.cause,
                             error=f"skipped: {err}")
        results.append(res)
        if on_result is not None:
            on_result(res)
    return MatrixTable(results)


def write_table(table: MatrixTable, path: Path) -> None:
    """The table as Markdown at ``path`` (bench/matrix.py writes docs/dev/fault-matrix.md)."""
    path.write_text(table.markdown(), encoding="utf-8")
