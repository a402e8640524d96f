"""A full pool behind Caddy (the fault matrix's pool-full, stop 46): what its Go errors say.

Caddy writes Go's own error texts.  A unix socket whose listen backlog is full answers a
non-blocking connect with EAGAIN at once ("dial unix PATH: connect: resource temporarily
unavailable", nginx's "(11: Resource temporarily unavailable)"); a loopback port whose accept
queue is full drops the SYN and the dial times out ("dial tcp ADDR: i/o timeout", a term whose
default reading is a route or a firewall).  Both are a pool with every worker busy.
"""

from __future__ import annotations

import pytest

from tests.support.evidence import evidence
from why502.analyzers import edge_apps
from why502.catalog.terms import term
from why502.evidence.lb_evidence import LbEvidence
from why502.findings.model import Finding
from why502.parsers.lblogs.golang import go_error_code, go_target

EAGAIN = ("dialing backend: dial unix /run/php/php8.2-fpm.sock: connect: resource temporarily "
          "unavailable")


def test_caddys_eagain_on_a_unix_socket_is_a_full_backlog() -> None:
    """Without its own term the EAGAIN was no code at all: the 502s were read by the read
    timeouts beside them, backend-too-slow (pool-full behind Caddy on fpm-unix, 2 of 2 cells)."""
    code = go_error_code(EAGAIN)
    assert code == "resource temporarily unavailable"
    found = term("caddy", code)
    assert found is not None and found.cause == "workers-exhausted" and found.symptom == "backlog-full"
    assert go_target(EAGAIN) == "unix:/run/php/php8.2-fpm.sock"


def _timed_out(target: str) -> Finding:
    return Finding(cause="network-unreachable", title="t", confidence=0.79, status_codes=[502],
                   symptoms=["connect-timeout"], explanation="e", target=target, count=3,
                   first_seen="2026-11-25T20:14:29Z", last_seen="2026-11-25T20:14:29Z")


@pytest.mark.parametrize(("target", "cause"), [
    ("127.0.0.1:9000", "workers-exhausted"),  # this host: its accept queue is full
    ("[::1]:9000", "workers-exhausted"),
    ("10.0.0.7:9000", "network-unreachable"),  # another host: a route or a firewall may be between
])
def test_an_edges_dial_timeout_to_this_host_is_a_full_queue_not_the_network(target: str, cause: str) -> None:
    """watch named network-unreachable on the window diagnose named workers-exhausted on (the
    edge's term, read alone; pool-full behind Caddy on fpm-tcp and gunicorn, 4 of 4 cells)."""
    got = edge_apps.refine(evidence(proxy="caddy"), LbEvidence(family="caddy"), _timed_out(target))
    assert got.cause == cause


def test_read_timeouts_on_the_target_whose_queue_dropped_the_others_are_the_full_pool() -> None:
    """One burst at a backend of one worker: the requests it accepted time out waiting behind it,
    the others' connects time out on its full accept queue.  Both are the pool; which symptom
    had more requests decided it before (Apache in front of a gunicorn of one worker: 3 read
    timeouts and 2 connect timeouts ranked backend-too-slow, 2 and 3 workers-exhausted)."""
    from tests.diagnose.test_diagnose_analyzers import ev, group, top

    peer = "127.0.0.1:8080"
    timeouts = ev(symptoms=(group("read-timeout", peer, count=3), group("connect-timeout", peer, count=2)))
    assert top(timeouts) == "workers-exhausted"
    # a slow backend elsewhere is its own cause: only the full target's read timeouts are the pool's
    other = ev(symptoms=(group("read-timeout", "127.0.0.1:9090", count=5),
                         group("connect-timeout", peer, count=2)))
    assert top(other) == "backend-too-slow"
