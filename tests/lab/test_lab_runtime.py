"""The lab runtime starts real programs on loopback and always cleans up by PID."""

from __future__ import annotations

import errno
import os
import socket
import urllib.request
from pathlib import Path

import pytest

from why502.lab.runtime import LabError, Stack, find_nginx, find_php_fpm, free_port

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed"),
]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): check /proc state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_stack_proxies_and_stops_everything_by_pid() -> None:
    with Stack() as stack:
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        resp = stack.request("/hello")
        assert resp.status == 200
        assert resp.body == b"ok from app\n"
        pids = [p.pid for p in stack.processes]
        root = stack.root
        assert stack.wait_for_log(stack.p.access_log, '"GET /hello HTTP/1.1" 200')
        line = stack.p.access_log.read_text().splitlines()[-1]
        assert f'upstream_addr="{app.address}"' in line
        assert 'upstream_status="200"' in line
        assert "upstream_header_time=" in line and "request_time=" in line
        assert len(pids) == 2
    assert not root.exists()
    assert not any(_pid_alive(pid) for pid in pids)


def test_stack_cleans_up_when_the_body_raises_and_keep_leaves_files() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError), Stack(keep=True) as stack:
        stack.add_backend("slow", delay=5)
        pids = [p.pid for p in stack.processes]
        root = stack.root
        raise RuntimeError("scenario failed half-way")
    assert not any(_pid_alive(pid) for pid in pids)
    assert (root / "assets" / "backend.py").exists()
    import shutil

    shutil.rmtree(root)


def test_bad_nginx_config_is_a_lab_error_with_nginx_message() -> None:
    with Stack() as stack, pytest.raises(LabError, match="unknown directive"):
        stack.start_nginx(f"server {{ listen {stack.listen}; no_such_directive on; }}")


def test_backends_refuse_non_loopback_addresses() -> None:
    with Stack() as stack, pytest.raises(LabError, match="loopback only"):
        stack.add_backend("ok", host="0.0.0.0")


def test_requests_are_bounded_and_concurrent() -> None:
    with Stack() as stack:
        app = stack.add_backend("slow", delay=0.3)
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        responses = stack.requests("/", count=4, concurrency=4)
        assert [r.status for r in responses] == [200, 200, 200, 200]


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_a_dead_port_refuses_connections_and_no_server_can_take_it_until_released() -> None:
    """lab.scenarios.dead_port keeps the port bound, never listening: connects are refused, a
    server's bind (with SO_REUSEADDR, as every server sets it) fails, /proc/net/tcp lists no
    listener on it; once a backend is started there the port is released and served (a suite
    run saw another test's server answer on a "stopped backend"'s free port)."""
    from why502.lab.runtime.machine import release_port
    from why502.lab.scenarios.common import dead_port

    port = dead_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError) as err:
            other.bind(("127.0.0.1", port))
        assert err.value.errno == errno.EADDRINUSE
    listening = {int(f.split()[1].split(":")[1], 16) for f in Path("/proc/net/tcp").read_text()
                 .splitlines()[1:] if f.split()[3] == "0A"}
    assert port not in listening
    with Stack() as stack:
        app = stack.add_backend("ok", name="app", port=port)
        assert app.port == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert answer.status == 200
    release_port("127.0.0.1", port)  # released already: nothing to do


def test_nginx_moves_to_another_port_when_its_port_was_taken() -> None:
    with Stack() as stack, socket.socket() as blocker:
        blocker.bind(("127.0.0.1", stack.nginx_port))
        blocker.listen()
        taken = stack.nginx_port
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        assert stack.nginx_port != taken
        assert stack.request("/").status == 200


def test_backend_retries_when_its_free_port_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    from why502.lab.runtime import machine

    with Stack() as stack, socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        ports = iter([busy])
        real = machine.free_port
        monkeypatch.setattr(machine, "free_port", lambda *a: next(ports, None) or real(*a))
        app = stack.add_backend("ok", name="app")
        assert app.port != busy
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        assert stack.request("/").body == b"ok from app\n"


@pytest.mark.skipif(find_php_fpm() is None, reason="php-fpm is not installed")
def test_php_fpm_children_busy_with_a_request_are_stopped_too() -> None:
    import threading
    import time

    with Stack() as stack:
        pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "2"},
                                 scripts={"sleep.php": "<?php usleep(3000000); echo 'done';"})
        stack.start_nginx(f"server {{ listen {stack.listen}; location ~ \\.php$ {{ "
                          f"fastcgi_pass {pool.fastcgi_pass}; {stack.fastcgi_params()} }} }}")
        worker = threading.Thread(target=stack.request, args=("/sleep.php",), kwargs={"timeout": 5})
        worker.start()
        time.sleep(0.5)
        children = stack.fpm_children()
        assert len(children) == 2
    worker.join(timeout=5)
    assert not any(_pid_alive(pid) for pid in children)


# -- network namespaces and memory cgroups (root only; everything removed by name) ----------------


def _skip_unless_netns() -> None:
    from why502.lab.runtime import netns_unavailable

    why = netns_unavailable()
    if why:
        pytest.skip(why)


def test_a_namespaced_stack_changes_nothing_on_the_host_and_is_deleted() -> None:
    _skip_unless_netns()
    from pathlib import Path

    host_range = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    with Stack() as stack:
        ns = stack.use_netns({"net.ipv4.ip_local_port_range": "40000 40003"})
        app = stack.add_backend("ok", name="api", port=8080)
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        assert stack.request("/").status == 200
        import subprocess

        inside = subprocess.run([*ns.prefix(), "cat", "/proc/sys/net/ipv4/ip_local_port_range"],
                                capture_output=True, text=True, check=True).stdout.split()
        assert inside == ["40000", "40003"]
        assert ns.path.exists()
        assert Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split() == host_range
        with pytest.raises(LabError):
            stack.netns_sysctl(ns, "kernel.pid_max", "4096")  # never a host-wide sysctl
        pids = [p.pid for p in stack.processes]
    assert not ns.path.exists(), "the namespace the stack created must be deleted"
    assert not any(_pid_alive(pid) for pid in pids)


def test_veth_addresses_are_lab_private_only() -> None:
    _skip_unless_netns()
    with Stack() as stack:
        a = stack.use_netns()
        b = stack.add_netns("peer")
        with pytest.raises(LabError):
            stack.link_netns(a, b, "192.168.1.1", "192.168.1.2")
        dev_a, dev_b = stack.link_netns(a, b, "10.251.0.1", "10.251.0.2")
        app = stack.add_backend("ok", name="api", host="10.251.0.2", port=8080, netns=b)
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        assert stack.request("/").status == 200
        with pytest.raises(LabError):
            stack.add_backend("ok", name="bad", host="10.251.0.2")  # default netns has no such address
        names = [ns.name for ns in stack.namespaces]
    import subprocess

    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert not any(n in listed for n in names)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    assert dev_a not in links and dev_b not in links  # never created in the host's namespace


def test_memory_cgroup_is_removed_after_the_stack() -> None:
    from why502.lab.runtime import LabSkip

    with Stack() as stack:
        try:
            cg = stack.memory_cgroup(64)
        except LabSkip as err:
            pytest.skip(str(err))
        app = stack.add_backend("ok", name="api")
        assert app.process is not None
        stack.move_to_cgroup(app.process, cg)
        assert str(app.process.pid) in (cg / "cgroup.procs").read_text().split()
    assert not cg.exists()
