"""diagnose and lint grow linearly with the config: counted, never timed.

A config of 5000 server blocks once took 36 s to diagnose and an upstream of 100k servers 50 s,
from lookups that scanned the whole http scope per location, a whole-file diff and a file hash
per fix, a scan of every target per upstream group and list membership per upstream server.
Here the work is counted as Python line events (``sys.settrace``, every module: ours, difflib,
crossplane) for a config of n and of 2n blocks: linear work doubles, quadratic work quadruples.
Timings are in ``bench/config_scale.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.app.lint import LintOptions, gather

ERROR = ('2024/05/01 10:00:00 [error] 31#31: *1 connect() failed (111: Connection refused) while '
         'connecting to upstream, client: 10.0.0.1, server: s0.test, request: "GET / HTTP/1.1", '
         'upstream: "http://127.0.0.1:20000/", host: "s0.test"\n')


def _servers(n: int) -> str:
    """n virtual hosts, each with its own keep-alive upstream (so each gets a fix with a diff),
    some written on one line as generated configs are."""
    out = ["events {}", "http {"]
    for i in range(n):
        out.append(f"  upstream u{i} {{ server 127.0.0.1:{20000 + i}; keepalive 4; }}")
        if i % 2:
            out.append(f"  server {{ listen 80; server_name s{i}.test; "
                       f"location / {{ proxy_pass http://u{i}; }} }}")
        else:
            out += ["  server {", "    listen 80;", f"    server_name s{i}.test;", "    location / {",
                    f"      proxy_pass http://u{i};", "      proxy_read_timeout 5s;", "    }", "  }"]
    return "\n".join([*out, "}", ""])


def _upstream(n: int) -> str:
    servers = [f"    server 10.0.{j // 250}.{j % 250 + 1}:8080;" for j in range(n)]
    return "\n".join(["events {}", "http {", "  upstream big {", *servers, "  }",
                      "  server { listen 80;", "    location / {", "      proxy_pass http://big;", "    }",
                      "  }", "}", ""])


def _count(fn: Callable[[], Any]) -> int:
    """Python line events while ``fn`` runs."""
    n = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal n
        if event == "line":
            n += 1
        return local

    def glob(frame: FrameType, event: str, arg: Any) -> Any:
        return local

    sys.settrace(glob)
    try:
        fn()
    finally:
        sys.settrace(None)
    return n


def _diagnose_work(tmp: Path, text: str) -> int:
    conf, err, acc = tmp / "nginx.conf", tmp / "error.log", tmp / "access.log"
    conf.write_text(text)
    err.write_text(ERROR)
    acc.write_text("")
    opts = DiagnoseOptions(default_proxy_config=str(conf), error_logs=[str(err)], access_logs=[str(acc)],
                           offline=True)
    diagnose(opts)  # warm: catalogs, compiled patterns, imports are paid once, not per block
    return _count(lambda: diagnose(opts))


def _lint_work(tmp: Path, text: str) -> int:
    conf = tmp / "nginx.conf"
    conf.write_text(text)
    opts = LintOptions(config=str(conf), host=False)
    gather(opts)
    return _count(lambda: gather(opts))


def _ratio(tmp_path: Path, work: Callable[[Path, str], int], make: Callable[[int], str], n: int) -> float:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    small, big = work(tmp_path / "a", make(n)), work(tmp_path / "b", make(2 * n))
    return big / small


def test_diagnose_work_is_linear_in_server_blocks(tmp_path: Path) -> None:
    ratio = _ratio(tmp_path, _diagnose_work, _servers, 60)
    assert ratio < 2.3, f"twice the server blocks cost {ratio:.2f}x the work"


def test_lint_work_is_linear_in_server_blocks(tmp_path: Path) -> None:
    ratio = _ratio(tmp_path, _lint_work, _servers, 60)
    assert ratio < 2.3, f"twice the server blocks cost {ratio:.2f}x the work"


def test_diagnose_work_is_linear_in_upstream_servers(tmp_path: Path) -> None:
    ratio = _ratio(tmp_path, _diagnose_work, _upstream, 300)
    assert ratio < 2.3, f"twice the upstream servers cost {ratio:.2f}x the work"
