"""W502-041 against the real programs: HAProxy in front of PHP-FPM with the ``fcgi-app``'s
default ``option keep-conn`` and ``http-reuse safe`` makes new clients wait ``timeout server``
for a worker the idle kept connections hold (haproxy/haproxy#2936); ``why502 diagnose`` names
the held pool (not a slow application) from the 504s and the config, ``why502 lint`` names it,
``why502 fix --lint ... --apply`` writes ``no option keep-conn``, tests it with ``haproxy -c``,
reloads the master (SIGUSR2), and the wait is gone.

Loopback only, bounded: six sequential requests, then at most eight bursts of four at once, each
on a new client connection (the lab client sends ``Connection: close``), 1 s server timeout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.lab.runtime import Stack
from why502.lab.runtime.machine import find_haproxy, find_php_fpm
from why502.proxies.haproxy.lab import haproxy_paths

pytestmark = pytest.mark.real

TIMEOUT_S = 1.0


def _waits(stack: Stack) -> list[tuple[int | None, float]]:
    """(status, seconds) of six sequential requests, each from a new client connection."""
    return [(r.status, r.elapsed) for r in stack.requests("/app.php", count=6)]


@pytest.mark.skipif(find_haproxy() is None or find_php_fpm() is None,
                    reason="haproxy and php-fpm are needed")
def test_idle_fastcgi_connections_hold_the_pool_until_the_lint_fix(tmp_path: Path) -> None:
    with Stack() as stack:
        pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "2", "listen.mode": "0666"},
                                 tcp=True, scripts={"app.php": "<?php\necho \"hello\\n\";\n"})
        stack.start_haproxy(f"use-fcgi-app php\nserver web1 {pool.fastcgi_pass} proto fcgi",
                            defaults=f"retries 0\ntimeout server {TIMEOUT_S:g}s", master_worker=True,
                            sections=f"fcgi-app php\n    docroot {stack.p.www}\n    index app.php")
        conf, log, _sock = haproxy_paths(stack)
        # Whether HAProxy keeps a FastCGI connection idle is its own estimate (include/haproxy/
        # server.h srv_add_to_idle_list(): a thread's first idle connection is always kept, more
        # only while used + idle stays within the connections in use at the last purge,
        # `pool-purge-delay`), so how many PHP-FPM workers the idle kept connections hold depends
        # on which of HAProxy's threads accepted each client -- scheduling, not the config (CI,
        # stop 44: six sequential requests at load were all answered at once). Six sequential new
        # clients (most answered at once, as in haproxy/haproxy#2936), then four at once: the two
        # served become idle kept connections holding both workers, and the other two wait
        # `timeout server` for a worker and get its 504; bounded rounds until that shows.
        before = _waits(stack)
        for _ in range(8):
            if any(st == 504 for st, _s in before):
                break
            before += [(r.status, r.elapsed) for r in stack.requests("/app.php", count=4, concurrency=4)]
        assert any(st == 504 for st, _s in before), before
        res = why502("diagnose", "--proxy", "haproxy", "--config", str(conf), "--error-log", str(log),
                     "--format", "json")
        assert res.returncode == 1, res.stdout + res.stderr
        top = json.loads(res.stdout)["findings"][0]
        assert top["cause"] == "workers-exhausted", top
        assert any("option keep-conn (default), http-reuse safe (default)" in e["summary"]
                   for e in top["evidence"]), top["evidence"]

        res = why502("lint", str(conf), "--format", "json")
        found = [f for f in json.loads(res.stdout)["findings"] if f["code"] == "W502-041"]
        assert len(found) == 1, res.stdout
        assert "holds a PHP-FPM worker" in found[0]["message"]

        res = why502("fix", "--lint", str(conf), "--only", "W502-041", "--apply", "--yes",
                     "--state-dir", str(tmp_path / "state"), "--verify-for", "1",
                     "--verify-url", f"http://{stack.listen}/app.php")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "reloaded: SIGUSR2 to the haproxy master" in res.stdout, res.stdout
        assert "no option keep-conn" in conf.read_text()

        after = _waits(stack)
        assert all(st == 200 and s < TIMEOUT_S * 0.8 for st, s in after), after  # none waited
        assert not [f for f in json.loads(why502("lint", str(conf), "--format", "json").stdout)["findings"]
                    if f["code"] == "W502-041"]
