"""The fault matrix's shape: generated cells, their declarations, the stratified sample.

These need no proxy; the live cells run in ``tests/lab/test_matrix_live_*.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from why502.catalog import load_catalog
from why502.lab import matrix


def test_cells_are_the_product_of_the_dimensions_filtered_by_each_fault() -> None:
    cells = matrix.cells()
    # a proxy fronts the backend kinds its runtime can reach, and any kind it speaks HTTP to
    # when the fault is that it does (http-to-fastcgi: HTTP to PHP-FPM's port)
    expected = sum(len(set(f.backends) if f.speak == "http" else set(matrix.FRONTS[p]) & set(f.backends))
                   * len(f.traffic) * len(matrix.NOISE) for f in matrix.FAULTS for p in f.proxies)
    assert len(cells) == expected and len({c.name for c in cells}) == len(cells)
    # every proxy of the lab appears, and more than one fault runs on each
    per_proxy = Counter(c.proxy for c in cells)
    assert set(per_proxy) == set(matrix.PROXIES)
    assert all(len({c.fault.name for c in cells if c.proxy == p}) >= 4 for p in matrix.PROXIES)
    # a proxy fronts only the backend kinds its runtime can reach (Envoy: no FastCGI), save a
    # fault that is a proxy speaking HTTP to a FastCGI port
    assert all(c.backend in matrix.FRONTS[c.proxy] or c.fault.speak == "http" for c in cells)
    assert not [c for c in cells if c.proxy == "envoy" and c.fault.fastcgi(c.backend)]
    assert {c.fault.name for c in cells if c.proxy == "envoy" and c.backend in matrix.FPM_BACKENDS} == {
        "http-to-fastcgi"}


def test_every_fault_names_a_catalog_cause_and_a_proof_that_compiles() -> None:
    causes = {e.id for e in load_catalog().of_kind("cause")}
    for fault in matrix.FAULTS:
        # None: the backend is not to blame (slow clients), the cell expects no cause at all
        assert fault.cause is None or fault.cause in causes, fault.name
        assert fault.proxies, fault.name
        for proxy, proof in fault.proof.items():
            assert proxy in matrix.PROXIES
            re.compile(proof)
        for (proxy, kind), proof in fault.proof_kind.items():
            assert proxy in fault.proxies
            assert kind in (*matrix.BACKENDS, "fpm", *fault.traffic), (fault.name, kind)
            re.compile(proof)
        assert set(fault.traffic) <= set(matrix.TRAFFIC + matrix.CLIENT_TRAFFIC + matrix.FAULT_TRAFFIC)
        assert fault.backends and set(fault.backends) <= set(matrix.BACKENDS)
        if fault.mode is not None and set(fault.backends) & set(matrix.FPM_BACKENDS):
            assert fault.mode in matrix.PHP_APP, fault.name  # the mode has its PHP form


def test_each_backend_kind_has_its_own_proof_where_the_proxy_logs_it_differently() -> None:
    """A missing unix socket is not a refused port: nginx and Apache say so in other words."""
    stopped = next(f for f in matrix.FAULTS if f.name == "stopped")
    assert stopped.proof_for("nginx", "tcp4") == ("error", stopped.proof["nginx"])
    assert "unix:" in stopped.proof_for("nginx", "fpm-unix")[1]
    assert "AH02454" in stopped.proof_for("apache", "unix")[1]
    crash = next(f for f in matrix.FAULTS if f.name == "crash")
    assert "FastCGI" in crash.proof_for("nginx", "fpm-tcp")[1]
    slow_client = next(f for f in matrix.FAULTS if f.name == "slow-client")
    assert slow_client.proof_for("apache", "tcp4", "slow-send")[0] == "access"
    assert slow_client.proof_for("nginx", "tcp4", "slow-read")[0] == "error"


def test_watch_reads_what_diagnose_reads_and_reports_its_first_incident(tmp_path: Path) -> None:
    from why502.lab.scenarios.model import ScenarioRun

    run = ScenarioRun(proxy="haproxy")
    run.config, run.error_log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
    run.kernel_log, run.fpm_log = tmp_path / "kernel.log", tmp_path / "php-fpm.log"
    diag = matrix._diagnose_argv(run)
    watch = matrix._watch_argv(run, served_5xx=True)
    # the same inputs, the cell's kernel log included (not this machine's ring buffer)
    assert watch[3] == "watch" and watch[watch.index("--kernel-log") + 1] == str(run.kernel_log)
    inputs = diag[diag.index("json") + 1:]
    assert watch[-len(inputs):] == inputs
    assert watch[watch.index("--duration") + 1] == str(matrix.WATCH_SECONDS)
    opened = ('{"event": "incident-opened", "incident": {"cause": "backend-crashed"}}\n')
    assert matrix._incident_cause(opened, 0, "") == "backend-crashed"
    assert matrix._incident_cause("", 0, "") == matrix.HEALTHY
    assert matrix._incident_cause("", 3, "no such file").startswith("watch failed (exit 3)")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sample_takes_one_cell_of_each_proxy_and_fault_pair_first(seed: int) -> None:
    """One cell per proxy x fault pair before any pair has two; when the pairs are more than the
    sample (65 pairs for the suite's 40 since stop 45, 75 since stop 46), which pairs are in it
    is the seed's."""
    pairs = {(c.proxy, c.fault.name) for c in matrix.cells()}
    picked = matrix.sample(40, seed)
    assert len(picked) == 40 and len({c.name for c in picked}) == 40
    got = [(c.proxy, c.fault.name) for c in picked]
    assert len(set(got)) == min(40, len(pairs))
    every = matrix.sample(len(pairs) + 5, seed)  # room for every pair: all of them are in
    assert pairs <= {(c.proxy, c.fault.name) for c in every}
    assert len({(c.proxy, c.fault.name) for c in every[:len(pairs)]}) == len(pairs)


def test_the_pairs_a_small_sample_leaves_out_are_the_seeds() -> None:
    """With more pairs than cells, another seed leaves out other pairs (no pair is never run)."""
    assert len({(c.proxy, c.fault.name) for c in matrix.cells()}) > 40
    runs = [{(c.proxy, c.fault.name) for c in matrix.sample(40, seed)} for seed in range(1, 11)]
    assert len({frozenset(r) for r in runs}) == len(runs)
    assert set().union(*runs) == {(c.proxy, c.fault.name) for c in matrix.cells()}


def test_the_sample_is_the_seeds() -> None:
    assert [c.name for c in matrix.sample(40, 7)] == [c.name for c in matrix.sample(40, 7)]
    assert [c.name for c in matrix.sample(40, 7)] != [c.name for c in matrix.sample(40, 8)]


def test_the_table_counts_right_reproduced_and_run() -> None:
    base = dict(proxy="nginx", fault="slow", backend="tcp4", traffic="steady", noise="quiet",
                expected="backend-too-slow")
    healthy = dict(base, fault="slow-client", traffic="slow-send", expected=matrix.HEALTHY)
    results = [
        matrix.CellResult(cell="a", reproduced=True, got="backend-too-slow", **base),
        matrix.CellResult(cell="b", reproduced=True, got="backend-crashed", **base),
        matrix.CellResult(cell="c", reproduced=False, error="the fault did not show", **base),
        matrix.CellResult(cell="d", reproduced=True, got="backend-too-slow",
                          violations=["clients got proxy-made 5xx, diagnose said healthy / exit 0"], **base),
    ]
    # a slow client's cell is right when diagnose names nothing, wrong when it blames the backend
    assert matrix.CellResult(cell="e", reproduced=True, got=None, **healthy).right
    assert not matrix.CellResult(cell="f", reproduced=True, got="backend-too-slow", **healthy).right
    table = matrix.MatrixTable(results)
    assert table.rows("proxy") == [("nginx", 1, 3, 4)]
    text = table.markdown()
    assert "**1/3 reproduced cells right** (4 run; 1 did not reproduce" in text
    assert "1 reported healthy under proxy-made 5xx" in text
    assert "| b | backend-too-slow | backend-crashed | wrong cause ranked first |" in text


def test_lab_matrix_selects_cells_by_fault_proxy_and_name(capsys: pytest.CaptureFixture[str]) -> None:
    """``--fault``/``--proxy``/``--cell`` (repeatable) pick the cells a rule change touches, so
    their score can be taken before and after without the whole matrix."""
    from why502.cli.main import main

    assert main(["lab", "matrix", "--list", "--fault", "backend-5xx", "--fault", "crash",
                 "--proxy", "haproxy", "--proxy", "apache"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()]
    want = [c.name for c in matrix.cells()
            if c.fault.name in ("backend-5xx", "crash") and c.proxy in ("haproxy", "apache")]
    assert names == want and len(names) == 180  # 9 backend kinds: 2x(36 + 54)
    assert main(["lab", "matrix", "--list", "--cell", "crash-apache-tcp6-post-quiet"]) == 0
    assert capsys.readouterr().out.split()[0] == "crash-apache-tcp6-post-quiet"
    assert main(["lab", "matrix", "--list", "--fault", "no-such-fault"]) == 2
    assert "no fault no-such-fault" in capsys.readouterr().err


def test_app_server_cells_ask_their_app_for_the_fault_and_give_its_log_and_config(tmp_path: Path) -> None:
    """gunicorn, uWSGI and Node cells: the path of the lab app that shows the fault, the app
    server's own time limit first where it is to kill its worker (and its log proves it), and
    its log and config passed as a user would (watch follows the log as ``--app-log`` and hands
    it on to its diagnosis)."""
    from why502.lab.scenarios.model import ScenarioRun

    by_name = {c.name: c for c in matrix.cells()}
    crash = by_name["crash-nginx-node-steady-quiet"]
    assert matrix._path(crash) == "/orders/crash"
    timeout = by_name["app-timeout-haproxy-uwsgi-post-noisy"]
    assert matrix._path(timeout) == "/orders/slow/4"
    assert timeout.fault.proxy_timeout > 4 > 1  # the proxy waits longer than harakiri = 1
    assert timeout.fault.app_proof["uwsgi"] == "HARAKIRI ON WORKER"
    assert not any(c.fault.name == "app-timeout" and c.backend == "node" for c in by_name.values())
    run = ScenarioRun(proxy="haproxy")
    run.config, run.error_log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
    run.kernel_log = tmp_path / "kernel.log"
    run.app_logs, run.app_confs = [tmp_path / "uwsgi.log"], [tmp_path / "uwsgi.ini"]
    diag = matrix._diagnose_argv(run)
    assert diag[-4:] == ["--app-log", str(tmp_path / "uwsgi.log"), "--app-conf", str(tmp_path / "uwsgi.ini")]
    watch = matrix._watch_argv(run, served_5xx=True)
    assert watch[-2:] == ["--app-log", str(tmp_path / "uwsgi.log")] and "--app-conf" not in watch


def test_keepalive_race_says_why_haproxy_has_no_cell(capsys: pytest.CaptureFixture[str]) -> None:
    """HAProxy has no keep-alive-race cell yet (fault-matrix.md stop 43: it logs 502 ``SH--`` with
    ``http-reuse always``, but why502 reads no HAProxy keep-alive pool); ``--list`` says so on
    stderr instead of leaving the gap unexplained, and stdout stays one cell a line."""
    from why502.cli.main import main

    fault = next(f for f in matrix.FAULTS if f.name == "keepalive-close")
    assert "haproxy" not in fault.proxies and "502 SH--" in fault.no_cell["haproxy"]
    assert main(["lab", "matrix", "--list", "--fault", "keepalive-close"]) == 0
    out, err = capsys.readouterr()
    assert "haproxy" not in out and "no cell keepalive-close behind haproxy: not yet" in err
    assert main(["lab", "matrix", "--list", "--fault", "crash", "--proxy", "haproxy"]) == 0
    assert "no cell" not in capsys.readouterr().err


def test_every_catalog_cause_is_a_faults_or_says_why_it_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 25 item 1: every root cause in the catalog x every proxy that can exhibit it.  A cause
    with no fault is declared with the reason (``NOT_IN_MATRIX``), printed by ``--list``; a cause
    is never both, and the declaration names only catalog causes."""
    from why502.cli.main import main

    causes = {e.id for e in load_catalog().of_kind("cause")}
    faulted = {f.cause for f in matrix.FAULTS if f.cause is not None}
    assert faulted | set(matrix.NOT_IN_MATRIX) == causes
    assert not faulted & set(matrix.NOT_IN_MATRIX)
    assert {"upstream-tls-mismatch", "protocol-mismatch", "app-fatal-error"} <= faulted
    assert main(["lab", "matrix", "--list", "--proxy", "nginx"]) == 0
    err = capsys.readouterr().err
    assert "no fault for selinux-denial: needs an SELinux kernel" in err
    assert "no fault for network-unreachable: no address but loopback" in err
    assert main(["lab", "matrix", "--list", "--fault", "php-fatal"]) == 0
    err = capsys.readouterr().err
    assert "no fault for" not in err and "no cell php-fatal behind envoy" in err


def test_a_fault_that_is_the_wrong_protocol_says_what_the_proxy_speaks() -> None:
    """The protocol and TLS faults are the proxy speaking what its backend does not: FastCGI to
    an HTTP server, HTTP to PHP-FPM, TLS to plain HTTP; the clients ask for the PHP script
    wherever the proxy speaks FastCGI."""
    by_name = {c.name: c for c in matrix.cells()}
    to_http = by_name["fastcgi-to-http-caddy-tcp6-steady-quiet"]
    assert to_http.fault.fastcgi("tcp6") and matrix._path(to_http) == "/app.php"
    to_fpm = by_name["http-to-fastcgi-envoy-fpm-unix-steady-noisy"]
    assert not to_fpm.fault.fastcgi("fpm-unix") and matrix._path(to_fpm) == "/app.php"
    tls = by_name["tls-to-plain-apache-unix-steady-quiet"]
    assert tls.fault.speak == "tls" and not tls.fault.fastcgi("unix") and matrix._path(tls) == "/orders"
    assert next(f for f in matrix.FAULTS if f.name == "crash").fastcgi("fpm-tcp")


def test_watch_behind_an_edge_follows_php_fpms_log_as_diagnose_reads_it(tmp_path: Path) -> None:
    """Caddy's cells are watched by the edge's logs' family; PHP-FPM's own log (``--fpm-log``)
    is followed too, as diagnose reads it: without it watch's diagnosis of a PHP fatal error
    behind Caddy's php_fastcgi named the relayed 500 only (stop 45: 4 cells where watch named
    upstream-returned-5xx and diagnose app-fatal-error on the same window)."""
    from why502.lab.scenarios.model import ScenarioRun

    run = ScenarioRun(proxy="caddy")
    run.config, run.error_log = tmp_path / "Caddyfile", tmp_path / "caddy.out"
    run.access_log, run.kernel_log = tmp_path / "caddy-access.log", tmp_path / "kernel.log"
    run.fpm_log = tmp_path / "php-fpm.log"
    diag, watch = matrix._diagnose_argv(run), matrix._watch_argv(run, served_5xx=True)
    assert diag[diag.index("--fpm-log") + 1] == str(run.fpm_log)
    assert watch[watch.index("--fpm-log") + 1] == str(run.fpm_log)
    assert watch[watch.index("--log-type") + 1] == "caddy"


def test_a_socket_the_workers_may_not_open_runs_as_root_behind_the_proxies_that_drop_privileges() -> None:
    """socket-perm: root's socket, mode 0660, on the unix kinds only; behind nginx (workers as
    nobody) and Apache (children as www-data); HAProxy, Envoy and Caddy run as the lab's user
    and say why they have no cell.  The cells need root (a LabSkip otherwise)."""
    fault = next(f for f in matrix.FAULTS if f.name == "socket-perm")
    assert fault.cause == "socket-permissions" and fault.socket_mode == 0o660
    assert fault.proxies == ("nginx", "apache") and set(fault.no_cell) == {"haproxy", "envoy", "caddy"}
    cells = [c for c in matrix.cells() if c.fault is fault]
    assert {c.backend for c in cells} == {"unix", "fpm-unix"} and len(cells) == 8
    assert "socket-permissions" not in matrix.NOT_IN_MATRIX
    assert "13: Permission denied" in fault.proof_for("nginx", "fpm-unix")[1]


def test_a_group_held_out_by_its_marking_is_every_proxys_all_upstreams_down() -> None:
    """group-down (stop 46): two targets, down then back, held out by each proxy's own failure
    accounting; the proof is each proxy's words for "no target left" (not the refusals, which a
    stopped group logs too: backend-not-running, the lab scenario group-all-stopped).  The cell
    names no single failing target, so a finding that names either member is not a violation."""
    from why502.lab.scenarios.model import ScenarioRun
    from why502.proxies.envoy.lab import envoy_cluster

    fault = matrix.GROUP_FAULT
    assert fault.cause == "all-upstreams-down" and fault.group_hold >= 10
    assert fault.proxies == matrix.PROXIES and "all-upstreams-down" not in matrix.NOT_IN_MATRIX
    cells = [c for c in matrix.cells() if c.fault is fault]
    assert {c.backend for c in cells} == {"tcp4", "tcp6"} and len(cells) == 20
    proofs = {p: fault.proof_for(p, "tcp4")[1] for p in matrix.PROXIES}
    assert "no live upstreams" in proofs["nginx"] and "<NOSRV>" in proofs["haproxy"]
    assert "AH01170" in proofs["apache"] and "503 UH" in proofs["envoy"]
    assert "no upstreams available" in proofs["caddy"]
    run = ScenarioRun(proxy="nginx")
    run.steps.append("nginx -> group [127.0.0.1:1, 127.0.0.1:2] (tcp4, nothing listens), then both back")
    assert matrix._cell_port(run) is None
    # Envoy's group: both endpoints in one cluster, held out by active checks, no panic routing
    yaml = envoy_cluster("app", "127.0.0.1:1", more=["::1:2"])
    assert yaml.count("- endpoint:") == 2 and 'address: "::1", port_value: 2' in yaml


def test_a_full_pool_is_a_fixed_pool_of_one_and_more_requests_at_once_than_it_takes() -> None:
    """pool-full (stop 46): one worker (PHP-FPM ``pm = static``, gunicorn ``workers``), a listen
    backlog of 1, six requests at once; each proxy's own words for it differ by how it meets the
    pool (a unix socket's EAGAIN, a TCP connect that times out, HAProxy's queue, Envoy's circuit
    breaker), and Envoy has only the app server (no FastCGI)."""
    fault = matrix.POOL_FAULT
    assert fault.cause == "workers-exhausted" and fault.workers == 1 and fault.traffic == matrix.FAULT_TRAFFIC
    assert "workers-exhausted" not in matrix.NOT_IN_MATRIX
    assert fault.proxy_timeout > matrix.BUSY_DELAY  # one request alone is served in time
    cells = [c for c in matrix.cells() if c.fault is fault]
    assert {(c.proxy, c.backend) for c in cells if c.proxy == "envoy"} == {("envoy", "gunicorn")}
    assert len(cells) == 26
    unix_proof = fault.proof_for("nginx", "fpm-unix")[1].replace("\\", "")
    assert "11: Resource temporarily unavailable" in unix_proof
    assert "while connecting to upstream" in fault.proof_for("nginx", "fpm-tcp")[1]
    assert "sQ--" in fault.proof_for("haproxy", "gunicorn")[1]
    assert "503 UO" in fault.proof_for("envoy", "gunicorn")[1]
    assert "resource temporarily unavailable" in fault.proof_for("caddy", "fpm-unix")[1]
    app_cell = next(c for c in cells if c.backend == "gunicorn")
    assert matrix._path(app_cell) == f"/orders/slow/{matrix.BUSY_DELAY}"


def test_stop47_a_name_that_does_not_resolve_and_a_route_back_into_the_proxy() -> None:
    """dns-nxdomain behind the proxies that resolve per request through a resolver of their own
    config (nginx, Caddy), the lab's on each loopback family; self-loop behind nginx; every other
    proxy says why it has no cell, and neither cause is left in NOT_IN_MATRIX."""
    cells = matrix.cells()
    dns = [c for c in cells if c.fault is matrix.DNS_FAULT]
    assert {(c.proxy, c.backend) for c in dns} == {
        (p, b) for p in ("nginx", "haproxy", "caddy") for b in ("tcp4", "tcp6")}
    assert len(dns) == 12 and {c.fault.cause for c in dns} == {"dns-unresolvable"}
    loop = [c for c in cells if c.fault is matrix.MISROUTE_FAULT]
    assert [c.name for c in loop] == ["self-loop-nginx-tcp4-steady-quiet",
                                      "self-loop-nginx-tcp4-steady-noisy"]
    for fault in (matrix.DNS_FAULT, matrix.MISROUTE_FAULT):
        assert set(fault.proxies) | set(fault.no_cell) == set(matrix.PROXIES)
        assert fault.cause not in matrix.NOT_IN_MATRIX
    # the cells build their own stacks (the lab's resolver; nginx's own address as the target)
    assert set(matrix._OWN_BUILD) == {"dns-nxdomain", "self-loop"}


def test_the_proxys_own_limits_are_set_in_each_proxys_config() -> None:
    """big-header, rate-limited and fd-limit (stop 47): the backend answers; the proxy refuses
    by a limit of its own, set where each proxy sets it (``_limit_lines``), and each proxy that
    has no such limit (or whose limit queues instead of answering 5xx) says why."""
    names = {"big-header": 30, "rate-limited": 12, "fd-limit": 6}
    faults = {f.name: f for f in matrix.FAULTS if f.name in names}
    assert {n: len([c for c in matrix.cells() if c.fault.name == n]) for n in names} == names
    assert {f.cause for f in faults.values()} == {"buffer-too-small", "proxy-rate-limited", "fd-limit"}
    assert not {"buffer-too-small", "proxy-rate-limited", "fd-limit"} & set(matrix.NOT_IN_MATRIX)
    # each proxy either has a cell or says why not
    for fault in faults.values():
        assert set(fault.proxies) | set(fault.no_cell) == set(matrix.PROXIES), fault.name

    def lines(fault: str, proxy: str) -> dict[str, object]:
        cell = next(c for c in matrix.cells() if c.fault.name == fault and c.proxy == proxy)
        return matrix._limit_lines(cell)

    assert "limit_req zone=app_limit" in str(lines("rate-limited", "nginx")["location"])
    assert "deny_status 503" in str(lines("rate-limited", "haproxy")["frontend"])
    assert "local_ratelimit" in str(lines("rate-limited", "envoy")["filters"])
    assert "max_response_headers_kb: 16" in str(lines("big-header", "envoy")["cluster_extra"])
    assert lines("big-header", "caddy") == {"transport_extra": "max_response_header 16KB"}
    assert lines("big-header", "nginx") == {}  # nginx, HAProxy, Apache: their defaults
    assert lines("fd-limit", "nginx") == {"worker_connections": 3}
    assert matrix.BIG_HEADER > 16384  # past HAProxy's default buffer, the largest default here


def test_an_app_running_elsewhere_and_one_that_loops_at_start_up_are_faults_on_every_proxy() -> None:
    """wrong-target and crash-loop (stop 47): both meet the proxy as a refused port or a missing
    socket (the ``stopped`` fault's words); what differs is where the app is (listening on the
    other loopback family, another socket path, a unix socket for a TCP target) or that a
    supervisor restarts it until it gives up (its log, the cell's app log, proves that)."""
    from why502.lab.scenarios.model import ScenarioRun

    stopped = next(f for f in matrix.FAULTS if f.name == "stopped")
    wrong, loop = matrix.WRONG_TARGET_FAULT, matrix.CRASH_LOOP_FAULT
    assert wrong.cause == "wrong-target" and loop.cause == "backend-crash-loop"
    assert {"wrong-target", "backend-crash-loop"}.isdisjoint(matrix.NOT_IN_MATRIX)
    assert wrong.proxies == loop.proxies == matrix.PROXIES
    for kind in matrix.BACKENDS:
        assert wrong.proof_for("nginx", kind) == stopped.proof_for("nginx", kind)
    wrong_cells = [c for c in matrix.cells() if c.fault is wrong]
    # every kind behind nginx, HAProxy, Apache and Caddy; Envoy has no FastCGI
    assert Counter(c.proxy for c in wrong_cells) == {"nginx": 18, "haproxy": 18, "apache": 18,
                                                     "caddy": 18, "envoy": 14}
    loop_cells = [c for c in matrix.cells() if c.fault is loop]
    assert {c.backend for c in loop_cells} == {"tcp4"} and len(loop_cells) == 10
    assert loop.proof_for("haproxy", "tcp4")[1].endswith("SC--")
    assert "FATAL" in loop.app_proof["tcp4"]
    # an app server's cell asks its plain path, not a fault's
    app_cell = next(c for c in wrong_cells if c.backend == "node")
    assert matrix._path(app_cell) == "/orders"
    # the failing backend is the target the proxy names, the one the step records first
    run = ScenarioRun(proxy="nginx")
    run.steps.append("nginx -> 127.0.0.1:8080 (tcp4, the app listens on [::1]:8080), steady traffic")
    assert matrix._cell_port(run) == "127.0.0.1:8080"
