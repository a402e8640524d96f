"""A name the proxy resolves through its own nameserver is probed through that one
(``sources.probes.dnsask``), never the host's resolver: HAProxy's ``resolvers`` section, whose
server the fault matrix's dns-nxdomain cells point at the lab's resolver on loopback (stop 47).

The nameservers are the lab's real DNS server (``lab/assets/backend.py``, ``dns-vanish``: an A
record 127.0.0.1 until a file exists, NXDOMAIN after; ``dns-silent``: no answer), on 127.0.0.1
and ::1, stopped by PID with the stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from why502.facts.probes import ProbeTarget
from why502.lab import runtime
from why502.sources.probes import probe
from why502.sources.probes.dnsask import ask

pytestmark = pytest.mark.real


@pytest.fixture()
def stack() -> Iterator[runtime.Stack]:
    with runtime.Stack(prefix="why502-dnsask-") as st:
        yield st


def test_the_proxys_nameserver_answers_then_forgets_the_name(stack: runtime.Stack, tmp_path: Path) -> None:
    deleted = tmp_path / "deleted"
    dns = stack.add_backend("dns-vanish", host="127.0.0.1", body_file=str(deleted))
    backend = stack.add_backend("ok")
    port = int(backend.address.rpartition(":")[2])
    where = f"127.0.0.1:{dns.port}"
    got = ask("orders.app.internal", where, 2.0)
    assert (got.addresses, got.error) == (["127.0.0.1"], None)
    # a probe of the name with that nameserver connects where it answers
    ok = probe(ProbeTarget(host="orders.app.internal", port=port, resolvers=(where,)), 2.0)
    assert ok.ok and ok.dns is not None and ok.dns.addresses == ["127.0.0.1"]
    deleted.touch()
    gone = probe(ProbeTarget(host="orders.app.internal", port=port, resolvers=(where,)), 2.0)
    assert not gone.ok and gone.symptom == "dns-failure"
    assert gone.dns is not None and "NXDOMAIN" in (gone.dns.error or "") and where in (gone.dns.error or "")


def test_on_the_ipv6_loopback_and_without_an_answer(stack: runtime.Stack) -> None:
    dns = stack.add_backend("dns-nxdomain", host="::1")
    assert "NXDOMAIN" in (ask("orders.app.internal", f"[::1]:{dns.port}", 2.0).error or "")
    silent = stack.add_backend("dns-silent", host="127.0.0.1")
    got = ask("orders.app.internal", f"127.0.0.1:{silent.port}", 0.5)
    assert got.error is not None and "no answer within 0.5s" in got.error and not got.addresses
