"""A full pool behind Caddy (the fault matrix's pool-full, stop 46): what its Go errors say.

Caddy writes Go's own error texts.  A unix socket whose listen backlog is full answers a
non-blocking connect with EAGAIN at once ("dial unix PATH: connect: resource temporarily
unavailable", nginx's "(11: Resource temporarily unavailable)"); a loopback port whose accept
queue is full drops the SYN and the dial times out ("dial tcp ADDR: i/o timeout", a term whose
default reading is a route or a firewall).  Both are a pool with every worker busy.
"""

from __future__ import annotations

from why502.catalog.terms import term
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
