"""`why502 stats` on logs a real nginx writes right now (lab runtime, loopback, stopped by PID):
an ``escape=json`` JSON access log, retries rescued by ``proxy_next_upstream``, an internal
redirect (``error_page ... = @fallback``), a backend's own 502 and nginx's own 502."""

from __future__ import annotations

from pathlib import Path

import pytest

from why502.app.stats import StatsOptions, run_stats
from why502.lab.runtime import Stack, find_nginx, free_port

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]

JSON_FORMAT = (
    'log_format j escape=json \'{"time":"$time_iso8601","client":"$remote_addr","host":"$host",\'\n'
    '    \'"request":"$request","status":$status,"ua":"$http_user_agent",\'\n'
    '    \'"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",\'\n'
    '    \'"upstream_header_time":"$upstream_header_time",\'\n'
    '    \'"upstream_response_time":"$upstream_response_time"}\';\n'
)


def test_json_log_retries_redirects_and_who_made_the_502() -> None:
    with Stack() as stack:
        ok = stack.add_backend("ok", name="app")
        gw = stack.add_backend("status502", name="gw")
        dead = free_port()  # nothing listens here: connection refused
        json_log = stack.p.root / "logs" / "access.json"
        stack.start_nginx(
            JSON_FORMAT
            + f"upstream pool {{ server 127.0.0.1:{dead}; server {ok.address}; }}\n"
            + f"server {{ listen {stack.listen}; access_log {json_log} j;\n"
            + "  location /pool/ { proxy_pass http://pool; }\n"
            + f"  location /gw/ {{ proxy_pass http://{gw.address}; }}\n"
            + f"  location /down/ {{ proxy_pass http://127.0.0.1:{dead}; }}\n"
            + f"  location /redir/ {{ proxy_pass http://127.0.0.1:{dead}; error_page 502 = @fallback; }}\n"
            + f"  location @fallback {{ proxy_pass http://{ok.address}; }}\n"
            + "}\n"
        )
        quote_ua = {"User-Agent": 'evil "quoted" agent \\ backslash'}
        got = [stack.request("/pool/a", headers=quote_ua).status for _ in range(3)]
        got += [stack.request("/gw/x").status for _ in range(2)]
        got += [stack.request("/down/y", headers=quote_ua).status for _ in range(2)]
        got += [stack.request("/redir/z").status for _ in range(2)]
        assert got == [200, 200, 200, 502, 502, 502, 502, 200, 200]
        stack.stop()
        st, source = run_stats(
            StatsOptions(paths=[str(json_log)], config_file=str(stack.p.nginx_conf), workers=1)
        )
        d = st.to_dict()
        text = Path(json_log).read_text()
        assert '\\"quoted\\"' in text  # escape=json really wrote \" inside values
    assert "log_format j" in source
    assert d["unparsed"] == 0 and d["requests"] == 9
    assert d["by_status"] == {"200": 5, "502": 4}
    assert d["made_by"] == {"backend": 2, "nginx": 2}
    assert d["rescued"] >= 1 + 2  # the first /pool/ request (refused, then 200) and both /redir/
    assert d["redirected"] == 2
    el = d["errorlog"]
    assert el["matched_5xx"] == 2 and el["by_symptom"] == {"connection-refused": 2}
    ups = {u["address"]: u for u in d["upstreams"]}
    assert ups[gw.address]["made_by"] == {"backend": 2}
    # per location, with nginx's default proxy_read_timeout (60s) for /gw/
    ((gw_loc, gw_t),) = ups[gw.address]["by_location"].items()
    assert gw_loc.endswith(" /gw/") and gw_t["count"] == 2 and gw_t["timeout"] == 60.0
    assert "nginx default" in gw_t["timeout_source"]
    assert "(after an internal redirect)" in ups[ok.address]["by_location"]
    assert ups[f"127.0.0.1:{dead}"]["failed_attempts"] >= 5
