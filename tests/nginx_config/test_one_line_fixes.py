"""Fix diffs on a config written on one line (issue 27, class 7).

The line number cannot say which block of such a line is meant: lint gave no diff at all, and
diagnose put ``proxy_read_timeout`` into the first block of the line, ``events {}`` -- a fix
``nginx -t`` refuses.  The block is now found by its anchor on the line (the location's header,
the ``*_pass`` statement, ``upstream NAME``); when the anchor is not there exactly once there is
no diff rather than one in the wrong block.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.clirun import why502
from why502.app.fix.plan import apply_diff
from why502.proxies.nginx.config import parse_nginx

ONE = ("events {} http { upstream b { server 127.0.0.1:9999; keepalive 8; } "
       "server { listen 80; location / { proxy_pass http://b; } } }\n")


def _location_directives(text: str, tmp_path: Path) -> set[str]:
    fixed = tmp_path / "fixed.conf"
    fixed.write_text(text)
    cfg = parse_nginx(str(fixed))
    assert not [p for p in cfg.problems if p.severity == "error"], cfg.problems
    (server,) = cfg.servers
    (loc,) = server.locations
    assert not {d.name for d in cfg.main.directives if d.name == "events" and d.block}
    return {d.name for d in loc.directives}


def test_lint_fixes_a_one_line_config_in_the_right_block(tmp_path: Path) -> None:
    conf = tmp_path / "one.conf"
    conf.write_text(ONE)
    res = why502("lint", "--config", str(conf), "--header-bytes", "9000", "--format", "json")
    findings = json.loads(res.stdout)["findings"]
    assert {f["code"] for f in findings} >= {"W502-001", "W502-004"}, findings
    for f in findings:
        assert f["diff"], f
        names = _location_directives(apply_diff(ONE, f["diff"], str(conf)), tmp_path)
        assert {"proxy_http_version", "proxy_buffer_size"} & names, (f["code"], names)


def test_diagnose_fixes_a_one_line_config_in_the_right_block(tmp_path: Path) -> None:
    conf = tmp_path / "one.conf"
    conf.write_text(ONE)
    log = tmp_path / "error.log"
    log.write_text("".join(
        f'2026/11/23 19:10:{i:02d} [error] 12#12: *{i} upstream timed out (110: Connection timed out) '
        'while reading response header from upstream, client: 10.0.0.1, server: _, request: '
        '"GET / HTTP/1.1", upstream: "http://127.0.0.1:9999/", host: "x"\n' for i in range(30)))
    res = why502("diagnose", "--offline", "--nginx-conf", str(conf), "--error-log", str(log),
                 "--format", "json")
    top = json.loads(res.stdout)["findings"][0]
    assert top["cause"] == "backend-too-slow" and top["fix"]["diff"], top
    names = _location_directives(apply_diff(ONE, top["fix"]["diff"], str(conf)), tmp_path)
    assert "proxy_read_timeout" in names, names


def test_an_ambiguous_line_gets_no_diff_rather_than_a_wrong_one(tmp_path: Path) -> None:
    """Two servers with the same ``location /`` on one line: which one the finding is about
    cannot be told from the line, so no diff."""
    conf = tmp_path / "two.conf"
    conf.write_text("events {} http { upstream b { server 127.0.0.1:9999; keepalive 8; } "
                    "server { listen 80; location / { proxy_pass http://b; } } "
                    "server { listen 81; location / { proxy_pass http://b; } } }")
    res = why502("lint", "--config", str(conf), "--format", "json")
    findings = [f for f in json.loads(res.stdout)["findings"] if f["code"] == "W502-001"]
    assert findings and all(f["diff"] is None for f in findings), findings
