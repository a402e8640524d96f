"""The fault matrix's stop 47 (docs/dev/fault-matrix.md "Stop 47: dns-unresolvable,
proxy-misrouted"), from recorded cells (tests/fixtures/matrix-cells/, see each README):

- nginx proxying to its own listen address: the loop takes every worker connection, so nginx
  logs ``worker_connections are not enough``; the loop is the cause (proxy-misrouted), not a
  limit to raise (fd-limit was ranked first);
- Caddy's dynamic upstreams whose lookup fails: the 503 "no upstreams available" are the failed
  lookup's (dns-unresolvable), not health checks that took every upstream out
  (all-upstreams-down was ranked first, by diagnose and by watch).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.clirun import why502
from tests.support.paths import matrix_cell
from why502.proxies.caddy.log import parse_caddy

LOOKUP = ('{"level":"error","ts":1795641247.5470088,"logger":"http.handlers.reverse_proxy",'
          '"msg":"failed getting dynamic upstreams; falling back to static upstreams",'
          '"error":"lookup orders.app.internal on 10.255.255.53:53: no such host"}')


def _causes(*argv: str) -> list[str]:
    res = why502("diagnose", "--format", "json", "--offline", *argv)
    assert res.returncode == 1, res.stdout + res.stderr
    return [f["cause"] for f in json.loads(res.stdout)["findings"]]


def test_a_proxy_pass_to_its_own_listen_address_is_the_cause_of_the_spent_connections(tmp_path: Path) -> None:
    work = matrix_cell("nginx-self-loop", tmp_path)
    causes = _causes("--config", str(work / "nginx.conf"), "--error-log", str(work / "error.log"),
                     "--access-log", str(work / "access.log"))
    assert causes[0] == "proxy-misrouted"
    assert "fd-limit" not in causes  # the exhaustion is the loop's, folded into it


def test_caddys_failed_dynamic_lookup_is_a_record_with_the_name() -> None:
    rec = parse_caddy(json.loads(LOOKUP))
    assert rec is not None
    assert (rec.code, rec.target, rec.cause, rec.status) == (
        "no such host", "orders.app.internal", "dns-unresolvable", None)
    # the handler's other lines are no requests
    other = json.loads(LOOKUP)
    other["msg"] = "aborting with incomplete response"
    assert parse_caddy(other) is None


def _caddy(tmp_path: Path) -> Path:
    return matrix_cell("caddy-dns-nxdomain", tmp_path)


def test_no_upstreams_while_the_dynamic_lookup_fails_is_the_name(tmp_path: Path) -> None:
    work = _caddy(tmp_path)
    causes = _causes("--proxy", "caddy", "--config", str(work / "Caddyfile"),
                     "--error-log", str(work / "caddy.out"), "--access-log", str(work / "caddy-access.log"))
    assert causes == ["dns-unresolvable"]


def test_watch_reads_the_same_window_the_same_way(tmp_path: Path) -> None:
    """watch reads Caddy's logs as an edge's (``--log-type caddy``): the edge's findings fold the
    same way (``analyzers.cloud_lb._lookup_emptied``)."""
    work = _caddy(tmp_path)
    res = why502("watch", "--format", "jsonl", "--listen", "off", "--from-start", "--offline",
                 "--duration", "20", "--max-events", "1", "--min-failures", "1", "--min-requests", "1",
                 "--ratio", "0.01", "--proxy", "caddy", "--config", str(work / "Caddyfile"),
                 "--log-type", "caddy", "--access-log", str(work / "caddy-access.log"),
                 "--access-log", str(work / "caddy.out"))
    opened = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    causes = [e["incident"]["cause"] for e in opened if e.get("event") == "incident-opened"]
    assert causes == ["dns-unresolvable"], res.stdout + res.stderr


def test_haproxys_server_in_maintenance_for_its_name_is_the_name(tmp_path: Path) -> None:
    """HAProxy put its only server in maintenance when the name stopped resolving (``DNS NX
    status``): the no-server 503s after it are the lookup's, folded under dns-unresolvable
    (``proxies.haproxy.analyze.all_down``)."""
    work = matrix_cell("haproxy-dns-nxdomain", tmp_path)
    causes = _causes("--proxy", "haproxy", "--config", str(work / "haproxy.cfg"),
                     "--error-log", str(work / "haproxy.log"))
    assert causes == ["dns-unresolvable"]


def test_haproxys_server_names_the_nameservers_of_its_resolvers_section() -> None:
    from why502.proxies.haproxy.config import parse_haproxy_text
    from why502.proxies.haproxy.facts import haproxy_facts

    cfg = parse_haproxy_text(
        "backend app\n    server a app.internal:8080 resolvers dns init-addr none\n"
        "    server b 127.0.0.1:8081\n    server c other.internal:8080\n"
        "resolvers dns\n    nameserver one 127.0.0.11:53\n    nameserver two ipv6@::1:5353\n"
        "    nameserver three 10.0.0.2\n", "/etc/haproxy/haproxy.cfg")
    targets = {t.key: t.resolvers for t in haproxy_facts(cfg)[0]}
    assert targets == {"app.internal:8080": ("127.0.0.11:53", "[::1]:5353", "10.0.0.2:53"),
                       "127.0.0.1:8081": (), "other.internal:8080": ()}
