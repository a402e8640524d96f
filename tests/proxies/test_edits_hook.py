"""``Hooks.edits`` (issue 23): the analyzers write their diffs with the edits the registry names,
never by importing a proxy's folder; run on configs real programs ran with (tests/fixtures/recorded)."""

from __future__ import annotations

from pathlib import Path

from why502.proxies import PROXIES, Capability, block_edits, server_edits

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def _files(path: Path) -> dict[str, tuple[str, ...]]:
    return {str(path): tuple(path.read_text(encoding="utf-8").splitlines())}


def test_block_edits_are_the_catalog_proxys() -> None:
    """The catalog's words are one proxy's (CATALOG_WORDING), and its edits insert a statement
    into the block of the line that passes to the target (backend-too-slow: nginx.conf:29)."""
    [catalog] = [p for p in PROXIES.values() if p.can(Capability.CATALOG_WORDING)]
    assert catalog.hooks.edits
    conf = RECORDED / "backend-too-slow" / "nginx.conf"
    diff = block_edits().set_directive(_files(conf), "proxy_read_timeout", "120s", setting_file=None,
                                       setting_line=None, is_default=True, anchor_file=str(conf),
                                       anchor_line=29, anchor="proxy_pass")
    assert diff is not None and "+" in diff and "proxy_read_timeout 120s;" in diff


def test_server_edits_only_where_a_proxy_has_server_lines() -> None:
    """HAProxy's queue: ``maxconn 1`` on the server line (haproxy-queue-timeout: haproxy.cfg:20)
    raised in place; a proxy whose edits have no server line has none."""
    conf = RECORDED / "haproxy-queue-timeout" / "haproxy.cfg"
    having = [name for name in PROXIES if server_edits(name) is not None]
    assert having, "no proxy declares server-line edits"
    edits = server_edits(having[0])
    assert edits is not None
    diff = edits.set_server_param(_files(conf), str(conf), 20, "maxconn", "2")
    assert diff is not None and "maxconn 2" in diff and "-    server web1" in diff
    assert server_edits(next(p.name for p in PROXIES.values() if p.can(Capability.CATALOG_WORDING))) is None
