"""Causes that need the machine: the kernel OOM killer, network namespaces, a process supervisor.

These scenarios need root (a memory cgroup, ``ip netns``) or supervisord; everything they make
outside the stack's temp dir is created under lab names and removed by name when it stops
(see :mod:`why502.lab.runtime.cgroups` and :mod:`why502.lab.runtime.netns`).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from why502.lab.runtime import LabError, LabSkip, Stack
from why502.lab.scenarios.common import server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="backend-oom-killed",
    cause="backend-oom-killed",
    title="The kernel OOM-kills the backend",
    description="A real OOM kill: the backend's memory cgroup allows 64 MiB, one request allocates 256 MiB. "
                "Needs root and a writable memory cgroup.",
    symptoms=("premature-close", "connection-refused", "oom-kill"),
    expect=(("error", r"upstream prematurely closed connection while reading response header"
                      r"|recv\(\) failed \(104: Connection reset by peer\)"),
            ("error", r"connect\(\) failed \(111: Connection refused\)"),
            ("kernel", r"Memory cgroup out of memory: Killed process \d+ \(python[\d.]*\)")),
    needs=("cgroup",),
)
def _backend_oom_killed(stack: Stack, run: ScenarioRun) -> None:
    """A real kernel OOM kill: the backend runs in a memory cgroup of 64 MiB (no swap) and one
    endpoint allocates 256 MiB.  The kernel logs ``Memory cgroup out of memory: Killed process PID
    (python3)`` (``mm/oom_kill.c`` ``__oom_kill_process()``); nginx sees the connection close
    mid-request, then refusals.  The kernel lines about *this* kill (its PID, its cgroup) are
    copied to ``logs/kernel.log`` for ``--kernel-log``."""
    app = stack.add_backend("memhog", name="reports", alloc_mb=256, memory_limit_mb=64,
                            fail_path="/reports/")
    assert app.process is not None
    cgroup = stack.cgroups[-1]
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.record("GET /health", stack.requests("/health", count=2))
    run.steps.append(f"the backend (pid {app.process.pid}) runs in memory cgroup {cgroup.name} "
                     "limited to 64 MiB, no swap; /reports/yearly builds a 256 MiB report in RAM")
    run.record("GET /reports/yearly", stack.requests("/reports/yearly", count=1))
    stack.wait_backend_exit(app)
    run.steps.append("the kernel OOM-killed it; nothing restarts it")
    run.record("GET /health", stack.requests("/health", count=2))
    run.kernel_log = _kernel_log_for(stack, app.process.pid, cgroup.name)


def _kernel_log_for(stack: Stack, pid: int, cgroup: str) -> Path:
    """The kernel's lines about one OOM kill (``dmesg -T``: wall-clock stamps), by PID and cgroup."""
    needles = (f"Killed process {pid} (", f"pid={pid},", f"/{cgroup}")
    lines: list[str] = []
    for _ in range(20):  # the kernel prints the report just after the kill: bounded wait
        res = subprocess.run(["dmesg", "-T"], capture_output=True, text=True, timeout=10, check=False)
        if res.returncode != 0:
            raise LabSkip(f"cannot read the kernel log (dmesg -T): {res.stderr.strip()}")
        lines = [ln for ln in res.stdout.splitlines() if any(n in ln for n in needles)]
        if any("Killed process" in ln for ln in lines):
            break
        time.sleep(0.1)
    else:
        raise LabError(f"no OOM kill of pid {pid} in the kernel log")
    return stack.write_file("logs/kernel.log", "\n".join(lines) + "\n")


@scenario(
    name="port-exhaustion",
    cause="port-exhaustion",
    title="Ephemeral ports to the backend run out",
    description="In its own network namespace with ip_local_port_range 40000-40003 and no upstream "
                "keepalive, concurrent requests exhaust the local ports. Needs root.",
    symptoms=("port-exhaustion",),
    expect=(("error", r"connect\(\) to 127\.0\.0\.1:8080 failed \(99: Cannot assign requested address\) "
                      r"while connecting to upstream"),),
    needs=("netns",),
)
def _port_exhaustion(stack: Stack, run: ScenarioRun) -> None:
    """nginx opens one new connection per request without upstream keepalive; each takes a local
    port from ``net.ipv4.ip_local_port_range``.  In a private namespace the range is 4 ports, so
    the fifth concurrent connect fails in ``ngx_event_connect_peer()`` with EADDRNOTAVAIL:
    ``connect() to 127.0.0.1:P failed (99: Cannot assign requested address) while connecting to
    upstream`` (``[crit]``: 99 is not in the list of "expected" connect errors)."""
    ns = stack.use_netns({"net.ipv4.ip_local_port_range": "40000 40003",
                          "net.ipv4.tcp_tw_reuse": "0"})
    # a fixed port outside the tiny range: the namespace is private, nothing else listens there
    app = stack.add_backend("slow", name="api", delay=1.0, port=8080)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append(f"nginx and the backend run in network namespace {ns.name} whose "
                     "ip_local_port_range is 40000-40003 (4 ephemeral ports); no upstream keepalive")
    run.steps.append("10 concurrent requests to a backend that takes 1 s: every local port is busy")
    run.record("GET /api/search", stack.requests("/api/search", count=10, concurrency=10))


@scenario(
    name="network-unreachable",
    cause="network-unreachable",
    title="No route to the backend host",
    description="nginx and the API host live in two network namespaces joined by a veth pair; a route "
                "change makes the API host unreachable. Needs root.",
    symptoms=("unreachable",),
    expect=(("error", r"connect\(\) to 10\.251\.0\.2:8080 failed \(113: No route to host\) while "
                      r"connecting to upstream"),),
    needs=("netns",),
)
def _network_unreachable(stack: Stack, run: ScenarioRun) -> None:
    """The backend host is in another network namespace, joined by a veth pair (10.251.0.0/30,
    lab-private).  An ``unreachable`` route for it in nginx's namespace makes connect() fail with
    EHOSTUNREACH: ``connect() to 10.251.0.2:P failed (113: No route to host) while connecting to
    upstream`` (ngx_event_connect_peer())."""
    web = stack.use_netns()
    api = stack.add_netns("api")
    stack.link_netns(web, api, "10.251.0.1", "10.251.0.2")
    app = stack.add_backend("ok", name="api", host="10.251.0.2", port=8080, netns=api)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_connect_timeout 1s;
        }}
    """))
    run.steps.append(f"nginx runs in namespace {web.name} (10.251.0.1), the API host in "
                     f"{api.name} (10.251.0.2), joined by a veth pair")
    run.record("GET /api/items", stack.requests("/api/items", count=2))
    stack.netns_ip(web, "route", "add", "unreachable", "10.251.0.2/32")
    run.steps.append("a route change makes 10.251.0.2 unreachable from nginx's host "
                     "(ip route add unreachable 10.251.0.2/32)")
    run.record("GET /api/items", stack.requests("/api/items", count=3))


@scenario(
    name="backend-crash-loop",
    cause="backend-crash-loop",
    title="The backend keeps dying at start-up (supervisord)",
    description="A real supervisord restarts an app that exits at start-up until it gives up (FATAL); "
                "nginx gets connection refused meanwhile. Needs supervisord.",
    symptoms=("connection-refused", "unit-restart", "unit-failed"),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\)"),
            ("app", r"exited: app \(exit status 1; not expected\)"),
            ("app", r"gave up: app entered FATAL state, too many start retries too quickly")),
    needs=("supervisord",),
)
def _backend_crash_loop(stack: Stack, run: ScenarioRun) -> None:
    """supervisord (autorestart=true, startretries=2) restarts a backend that exits at start-up
    until it gives up: ``spawned:``, ``exited: app (exit status 1; not expected)``, ``gave up: app
    entered FATAL state, too many start retries too quickly`` (supervisor/process.py).  Meanwhile
    nginx gets connection refused."""
    app = stack.add_supervised_backend("fail-start", name="app", startretries=2, startsecs=5)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("a deploy broke the app: it exits at start-up (DATABASE_URL is not set); "
                     "supervisord restarts it (autorestart=true, startretries=2)")
    # backoff 1 s + 2 s between the three starts (supervisor/process.py); bounded at 15 s.  The
    # app exits well within startsecs=5 even on a loaded machine, so every exit counts as a retry.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run.record("GET /", [stack.request("/")])
        if "gave up:" in stack.supervisor_log.read_text(errors="replace"):
            break
        time.sleep(0.7)
    run.steps.append("supervisord gave up: the program is in FATAL state")
    run.record("GET /", stack.requests("/", count=2))
    run.app_logs.append(stack.supervisor_log)
