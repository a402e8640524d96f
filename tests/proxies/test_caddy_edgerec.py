"""Issue 24 (the edge lab's Caddy faults): what Caddy's config and Go's error text say, read
through the real ``caddy adapt`` (skipped where caddy is not installed).

- Caddy keeps idle upstream connections unless told not to (32 per host for 2 minutes:
  reverseproxy/httptransport.go ``NewTransport``); its groups carry that, so the keep-alive
  analyzer weighs it as it does nginx's ``keepalive``; ``keepalive off`` and ``php_fastcgi`` (the
  fastcgi transport dials each request: fastcgi.go ``RoundTrip``) keep none.  The diff that lowers
  it is a ``transport http { keepalive }`` the real caddy adapts.
- A unix socket's connect errno as Go writes it (``dial unix PATH: connect: no such file or
  directory``, php_fastcgi's ``dialing backend: ...``), in Caddy's JSON and console encoders, is
  socket-not-found / permission-denied on ``unix:PATH``, the config's key.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.parsers.lblogs.golang import go_error_code, go_target
from why502.proxies.caddy.edit import set_subdirective

CADDY = shutil.which("caddy")
needs_caddy = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")

CADDYFILE = """{
	admin off
}
http://127.0.0.1:8080 {
	handle /api/* {
		reverse_proxy 127.0.0.1:9001
	}
	handle /off/* {
		reverse_proxy 127.0.0.1:9002 {
			transport http {
				keepalive off
			}
		}
	}
	handle /few/* {
		reverse_proxy 127.0.0.1:9003 {
			transport http {
				keepalive 30s
				keepalive_idle_conns_per_host 4
			}
		}
	}
	handle /php/* {
		php_fastcgi unix//run/php/php-fpm.sock
	}
}
"""

# the recorded line of the lab (tests/fixtures/recorded/caddy-fpm-socket-missing/caddy.out)
SOCKET = FIXTURES_DIR / "recorded" / "caddy-fpm-socket-missing" / "caddy.out"


@needs_caddy
def test_caddy_groups_carry_its_keepalive_defaults(tmp_path: Path) -> None:
    from why502.proxies.caddy.facts import caddy_facts
    from why502.proxies.caddy.source import caddy_config

    path = tmp_path / "Caddyfile"
    path.write_text(CADDYFILE)
    _targets, groups, _files, _aliases = caddy_facts(caddy_config(str(path)))
    by_server = {g.servers[0]: g for g in groups.values()}
    default = by_server["127.0.0.1:9001"]
    assert default.keepalive == 32
    assert default.keepalive_timeout is not None and default.keepalive_timeout.value == "2m"
    assert default.keepalive_timeout.is_default
    assert by_server["127.0.0.1:9002"].keepalive is None  # keepalive off
    few = by_server["127.0.0.1:9003"]
    assert few.keepalive == 4 and few.keepalive_timeout is not None
    assert few.keepalive_timeout.value == "30s" and few.keepalive_timeout.line == 18
    assert by_server["unix:/run/php/php-fpm.sock"].keepalive is None  # fastcgi: no pool


@needs_caddy
@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch")
def test_the_keepalive_diff_applies_and_caddy_adapts_it(tmp_path: Path) -> None:
    assert CADDY is not None
    path = tmp_path / "Caddyfile"
    path.write_text(CADDYFILE)
    diff = set_subdirective({str(path): tuple(CADDYFILE.splitlines())}, str(path), 6, "keepalive", "1s")
    assert diff
    res = subprocess.run(["patch", "--quiet", str(path)], input=diff, capture_output=True, text=True,
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([CADDY, "adapt", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    assert '"keep_alive":{"idle_timeout":1000000000}' in res.stdout.replace(" ", "")


def test_go_unix_socket_errors() -> None:
    missing = "dialing backend: dial unix /run/php/php-fpm.sock: connect: no such file or directory"
    assert go_error_code(missing) == "no such file or directory"
    assert go_target(missing) == "unix:/run/php/php-fpm.sock"
    denied = "dial unix /run/app.sock: connect: permission denied"
    assert go_error_code(denied) == "permission denied"
    assert go_target(denied) == "unix:/run/app.sock"
    # a read on a kept unix connection names the socket after "->" (Go's net.OpError)
    assert go_target("read unix @->/run/php/www.sock: i/o timeout") == "unix:/run/php/www.sock"
    assert go_target("dial tcp 127.0.0.1:9000: connect: connection refused") == "127.0.0.1:9000"


def _console(obj: dict[str, object]) -> str:
    """A JSON line of Caddy's default logger as its console encoder writes it (zap: time, level,
    logger, msg, then the other fields as JSON, tab-separated)."""
    rest = {k: v for k, v in obj.items() if k not in ("level", "ts", "logger", "msg")}
    return f"2026/11/24 12:05:09.450\tERROR\t{obj['logger']}\t{obj['msg']}\t{json.dumps(rest)}"


@pytest.mark.parametrize("shape", ["json", "console"])
@pytest.mark.parametrize(("errno", "symptom"), [("no such file or directory", "socket-not-found"),
                                                ("permission denied", "permission-denied")])
def test_classify_and_explain_read_a_unix_socket_error_in_every_shape(
        shape: str, errno: str, symptom: str, tmp_path: Path, run_main: RunMain) -> None:
    line = next(x for x in SOCKET.read_text().splitlines() if "http.log.error" in x)
    obj = json.loads(line.replace("no such file or directory", errno))
    text = json.dumps(obj) if shape == "json" else _console(obj)
    path = tmp_path / "pasted.log"
    path.write_text(text + "\n")
    code, out, err = run_main("classify", str(path), "--format", "json")
    assert code in (0, 1), err
    assert symptom in out, out
    code, out, err = run_main("explain", text, "--format", "json")
    assert code == 0, err
    assert symptom in out, out
