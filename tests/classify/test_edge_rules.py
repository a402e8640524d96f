"""Edge rules (issue 24 item 3, issue 31 item 8): ``why502 explain LINE`` reads a pasted line the
way ``why502 classify FILE`` reads a file holding only that line (``parsers.recognise.read_line``
is the one decision both make), and the rules written from the edge programs' sources read their
messages and leave their look-alikes alone.

Each case below failed before its guard: a one-token Envoy details string was refused as an
unknown catalog ID by explain while classify named it; a fragment that ``normalize`` rebuilds
was read by explain and dropped by classify's prefilter; a bare status line was a Traefik term to
explain and nothing to classify; Cloudflare pages and cloudflared errors were not read at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from why502.cli.main import main
from why502.parsers.recognise import read_line
from why502.proxies.logfamilies import families

ENVOY = "upstream connect error or disconnect/reset before headers. "
CASES: list[tuple[str, str | None]] = [
    # Envoy's details alone (one token): classify names it, explain must too
    ("upstream_reset_before_response_started{connection_termination}", "premature-close"),
    ("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}",
     "connection-refused"),
    # the transport failure reason decides over the reset reason
    ("upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
     "transport failure reason: TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED",
     "tls-failure"),
    (ENVOY + "reset reason: connection failure", "connect-failed"),
    (ENVOY + "reset reason: overflow", "upstream-overflow"),
    # a fragment normalize rebuilds (the call inferred from the phase): the prefilter lets it through
    ("(110: Operation timed out) while reading response header from upstream", "read-timeout"),
    # a bare status line says the status, not which proxy made it or why: the event of a
    # proxy's own reply, never a cause
    ("HTTP/2 503", "proxy-reply"),
    ("<head><title>502 Bad Gateway</title></head>", "proxy-reply"),
    # ... and told in a sentence it is a request the proxy failed, said without its cause (rules of
    # 2026-11-24, batch 4: "Reverse proxy through Caddy fails with 502"); talk ABOUT a code is not
    ("we get 504 Gateway Timeout after 60 s", "proxy-reply"),
    ("Since the upgrade every request through the ingress ends up with a 503", "proxy-reply"),
    ("Kong 3.4 - Service Unavailable", "proxy-reply"),
    ("You might see a 502 Bad Gateway error when the origin restarts", None),
    ("A 504 Gateway Timeout is the response a proxy sends when the upstream is too slow", None),
    ("    return 503;", None),
    # Cloudflare's page, its title, a client's exception; a Ray ID alone is no failure
    ("Error 522 Ray ID: 3044bd1a06490f87 • 2016-11-19 15:37:06 UTC", "connect-timeout"),
    ("<title>example.com | 524: A timeout occurred</title>", "read-timeout"),
    ("openai.error.APIError: HTTP code 520 from API (<!DOCTYPE html>", "invalid-response"),
    ("CloudFlare Ray ID: 3044bd1a06490f87 • Your IP: 192.0.2.1", None),
    # cloudflared: the Go error after its wrap decides
    ('2024-01-18T06:04:54Z ERR  error="Unable to reach the origin service. The service may be down or it may '
     'not be responding to traffic from cloudflared: dial tcp 172.30.33.9:80: connect: connection refused" '
     "cfRay=8474a4a8cdd16081-ORD event=1", "connection-refused"),
    ('2024-01-18T06:05:10Z ERR  error="Unable to reach the origin service. The service may be down or it may '
     'not be responding to traffic from cloudflared: dial tcp: lookup web on 127.0.0.11:53: i/o timeout"',
     "dns-failure"),
    ("2024-01-18T06:05:10Z ERR Incoming request ended abruptly: context canceled", None),
    # Caddy's console encoder and v1's error line without its date
    ("2023/05/21 09:58:05.456\tERROR\thttp.log.error\tdial tcp 127.0.0.1:2021: connect: connection refused"
     "\t{}", "connection-refused"),
    ("[ERROR 502 /] dial tcp 172.20.0.6:5000: connect: connection refused", "connection-refused"),
    # APISIX / Kong Lua messages inside nginx lines
    ("2023/08/23 09:56:55 [error] 47#47: *24 [lua] balancer.lua:200: pick_server(): failed to find valid "
     "upstream server, all upstream servers tried, client: 10.0.0.9", "no-live-upstreams"),
    ("2020/06/30 14:27:20 [error] 30#30: *31 [lua] init.lua:300: http_access_phase(): failed to set "
     "upstream: missing upstream configuration in Route or Service", "upstream-not-configured"),
    # NGINX Gateway Fabric: the 503 socket as an upstream member, not the socket's own listen line
    ("upstream default_web_80 { server unix:/var/run/nginx/nginx-503-server.sock; }", "no-live-upstreams"),
    ("    listen unix:/var/run/nginx/nginx-503-server.sock;", None),
    # rules of 2026-11-24 (docs/dev/edge-corpus.md, batch 3 as development data).  Traefik 3's JSON
    # error record, whole or cut before its message (its proxy's ErrorHandler is the caller)
    ('{"level":"debug","error":"dial tcp 10.1.2.3:8080: connect: connection refused","time":'
     '"2025-08-21T13:12:21Z","caller":"github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:121","me',
     "connection-refused"),
    ('{"level":"debug","error":"dial tcp 10.1.2.3:8080: i/o timeout","caller":'
     '"github.com/traefik/traefik/v3/pkg/server/service/proxy.go:100","message":"504 Gateway Timeout"}',
     "connect-timeout"),
    ('{"level":"debug","error":"context canceled","caller":'
     '"github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:121","message":"499 Client Closed Request"}',
     None),
    # Envoy's debug header dump is a trace of some stream (its async clients' too), not a reply
    ("'grpc-message', 'no healthy upstream'", None),
    ("we got \"No healthy upstream\" from the ingress gateway after the rollout", "no-live-upstreams"),
    # Cloudflare's docs section heading is no error page
    ("## Error 522: connection timed out", None),
    ("[BUG] ('Response code error: ', 522) Connection timed out", "connect-timeout"),
    ("Intermittent 523 from Cloudflare", "unreachable"),
    # Kong: the ring-balancer had no peer; Kong 0.13's DNS failure
    ("clients get `failure to get a peer from the ring-balancer`", "no-live-upstreams"),
    ("2018/04/20 14:09:54 [error] 51#0: *13 [lua] balancer.lua:781: execute(): [dns] dns server error: "
     "3 name error. Tried: (short)api.service.consul:(na) - cache-miss", "dns-failure"),
    ("failed to retry the dns/balancer resolver for 'api.svc' with: name resolution failed", "dns-failure"),
    # Caddy's DialError printed as a Go value; its no-upstreams text opening a title
    ('{"level":"warn","logger":"http.handlers.cache","msg":"caddyhttp.HandlerError{Err:reverseproxy.DialError'
     '{error:(*net.OpError)(0xc000846870)}, StatusCode:502}"}', "connect-failed"),
    ("no upstreams available after a docker restart", "no-live-upstreams"),
    # a Go dial error quoted as a code span in prose
    ("every dial fails with `dial tcp: lookup api.internal: no such host` since the upgrade", "dns-failure"),
    # an ALB result-table row without its header: a status the ALB made, no cause
    ("| 0.001 | -1 | -1 | 503 | 120 | 0 |", "proxy-reply"),
    ("504 Gateway Timeouts", "proxy-reply"),
    # rules of 2026-11-24 (batch 4 as development data): a code explained, quoted from the docs, said
    # with a modal or asked about is talk about it (``[prose] told_about``); a code a user got is not
    ("Error 521 indicates that the origin web server refused connections from Cloudflare.", None),
    ("Error 523 occurs when Cloudflare cannot contact your origin web server.", None),
    ("## Error 526: invalid SSL certificate", None),
    ("Error 522: connection timed out", None),
    ("the worker will return 521 until the origin is back", None),
    ("If you get error 525, check the origin's certificate", None),
    ("`503 no healthy upstream` is the reply Envoy sends when a cluster has no healthy host", None),
    ("How to handle upstream timed out errors in a custom plugin?", None),
    ("upstream timed out (110: Connection timed out) while reading response header from upstream",
     "read-timeout"),
    ("the API keeps returning 522 since this morning", "connect-timeout"),
    ('{"status":522,"message":"522: Origin Connection Time-out"}', "connect-timeout"),
    ("Error 523: Origin is unreachable", "unreachable"),
    ("A 523 error means that Cloudflare could not reach your host web server.", "unreachable"),
    # Caddy's no-upstreams text retyped capitalised in a title; Go's TLS alert alone (the dialing
    # side: a server logs a client's alert as "http: TLS handshake error from ..."); caddy-l4's
    # "handling connection" record carrying the proxy handler's Go dial error
    ("No Upstreams Available after upgrading to 2.7", "no-live-upstreams"),
    ("remote error: tls: handshake failure", "tls-failure"),
    ("http: TLS handshake error from 10.0.0.9:51234: remote error: tls: bad certificate", None),
    ('{"level":"error","ts":1738755850.66,"logger":"layer4","msg":"handling connection","remote":'
     '"192.0.2.7:63522","error":"dial tcp 10.0.0.5:5432: connect: connection refused"}',
     "connection-refused"),
    ('{"level":"debug","ts":1738755850.66,"logger":"layer4","msg":"matching","remote":'
     '"192.0.2.7:63522"}', None),
    # batch 5's classes (2026-11-25): a guide named after an error page is no page; Kong's patched
    # cosocket (a plugin's own connection) is not the balancer; the balancer's words opening a title
    ("docs: new tutorial \u201cCloudflare Error 521: Web Server Is Down\u201d", None),
    ("redis connect: error: [cosocket] DNS resolution failed: dns server error: 3 name error", None),
    ("Dns resolution failed after restarting the gateway pods", "dns-failure"),
    # Envoy's reply inside CJK text (no \\b there); cloudflared's pre-2021 wrap of an origin error
    ("\u90e8\u7f72\u540e\u8bbf\u95ee\u663e\u793ano healthy upstream", "no-live-upstreams"),
    ("2021-05-01T10:00:00Z ERR CF-RAY: 64a0b1c2d3e4f5a6-AMS Proxying to ingress 1 error: Error proxying "
     "request to origin: dial tcp 10.0.0.4:8080: connect: connection refused", "connection-refused"),
    ("2021-05-01T10:00:00Z ERR Proxying to ingress 1 error: Error writing response header", None),
    # cloudflared 2018-2020 (logrus TextFormatter, origin/tunnel.go logError()): every form the formatter
    # writes -- off a terminal, on one (seconds since start, FullTimestamp, colours kept) -- and the same
    # format's lines that are no origin error (the edge connection, the start-up check)
    ('time="2019-03-01T10:00:00Z" level=error msg="HTTP request error" connectionID=1 '
     'error="dial tcp 127.0.0.1:8080: connect: connection refused"', "connection-refused"),
    ('ERRO[0012] HTTP request error                            connectionID=0 error=EOF', "premature-close"),
    ('ERRO[2019-03-01T10:00:00Z] HTTP request error                            connectionID=3 '
     'error="net/http: timeout awaiting response headers"', "read-timeout"),
    ('\x1b[31mERRO\x1b[0m[0003] HTTP request error                            connectionID=1 '
     'error="x509: certificate signed by unknown authority"', "tls-failure"),
    ('time="2019-03-01T10:00:00Z" level=error msg="Serve tunnel error" connectionID=0 error="EOF"', None),
    ('ERRO[0000] unable to connect to the origin               error="dial tcp [::1]:8888: connect: '
     'connection refused"', None),
    # Envoy's pool giving up a connect (conn_pool_base.cc onConnectTimeout(): "[C<id>] connect timeout"),
    # in Istio's debug format too; the words in prose are no such line
    ("2021-03-11T08:38:24.776131Z     debug   envoy pool      [external/envoy/source/common/http/http1/"
     "conn_pool.cc:97] [C302] connect timeout", "connect-timeout"),
    ("the connect timeout of the cluster is 5s", None),
    # a pretty-printed JSON log's message member alone on its line (jq's form, journalctl -o json-pretty's)
    ('  "msg": "dial tcp 172.19.0.3:80: i/o timeout",', "connect-timeout"),
    ('    "MESSAGE" : "2024/05/01 12:00:01 [error] 7#7: *3 connect() failed (111: Connection refused) while '
     'connecting to upstream, client: 10.0.0.9, server: _"', "connection-refused"),
    ('  "msg": "using provided configuration",', None),
    # a code in a conditional, a past fix, a remedy, a change's title, an imperative title, a contracted
    # modal, troubleshooting: talk about a code, no request the proxy failed (``[prose] told_about``);
    # a code after "when" stays a report (the corpus' threads report that way), as does a present "fixes"
    ("If Traefik returns 500 the client retries", None),
    ("Check whether the gateway responds with 503 after the rollout", None),
    ("We fixed the 502 issues by raising the idle timeout", None),
    ("After the upgrade there are no more 504 errors", None),
    ("To solve this, we added a route that answers 503", None),
    ("fix(proxy): return 502 when the upstream resets", None),
    ("Respond with 503 while the pods are draining", None),
    ("we'd rather send HTTP 503 there", None),
    ("Troubleshooting 504 Gateway Timeout behind Envoy", None),
    ("When I restart the backend, Traefik returns 502", "proxy-reply"),
    # a proxy's 5xx told in prose: the code in a code span, verbs of experiencing and rejecting,
    # the reason phrase quoted as the error's name
    ("the gateway returns `503` for every request after the rollout", "proxy-reply"),
    ("we are experiencing 502 errors on one route", "proxy-reply"),
    ("the sites behind the proxy fail with error \"Bad Gateway\".", "proxy-reply"),
    # ... and a cause named in the same line still wins over the told status (Kong's own rule,
    # in its folder, comes before the told-status fallbacks)
    ("We experienced some 503 errors: failure to get a peer from the ring-balancer", "no-live-upstreams"),
    # APISIX's balancer answering 502 itself when nginx refuses the node (a host name): a report, no
    # cause, framed or not (issue 24, batch 10); "no valid upstream node" after APISIX's own words only
    ("2023/02/10 08:21:03 [error] 49#49: *7 [lua] balancer.lua:382: run(): failed to set server peer "
     "[listing:50051] err: no host allowed while connecting to upstream, client: 172.18.0.1, server: _, "
     'request: "GET / HTTP/1.1", host: "localhost:9080"', "proxy-reply"),
    ("*7 [lua] balancer.lua:382: run(): failed to set server peer [90:1] err: no host allowed",
     "proxy-reply"),
    ("Failed to set upstream: no valid upstream node (503 Service Temporarily Unavailable)",
     "no-live-upstreams"),
    ("bug: maybe no valid upstream node.", None),
    # Kong's 503 body in a title; an exception's capitalised text is not Kong's
    ("Nil targets from balancer and service name resolution failed in db-less mode", "dns-failure"),
    ('raise OSError("Name resolution failed")', None),
    # Envoy's flags called the response code
    ("tcp connections with response code UF,URX", "connect-failed"),
    # a side call failing is not the request's upstream (Envoy's rate limit service)
    ("Envoy fails to connect to external rate limit service: connection failure, transport failure reason: "
     "delayed connect error: 111", None),
    # told codes: one error where it came, in Chinese, "error 502", said to come from the proxy, "with a
    # 504 error", "504 Timeout", nginx's $upstream_status, a 500 the proxy is said to return, Cloudflare's 530
    ("in my case pods are working fine no error in pod but 503 error in istio ingress pod", "proxy-reply"),
    ("这时候关掉其中一个节点得服务，会出现502错误。", "proxy-reply"),
    ("request help: Apisix agent access error 502", "proxy-reply"),
    ("I have 502 Bad request returning from Traefik when I do requests close in time", "proxy-reply"),
    ("From time to time requests fail on the UAA ELB with a 504 error.", "proxy-reply"),
    ("help request: 504 Timeout for requests", "proxy-reply"),
    ('    "upstream_status": "504, 502",', "proxy-reply"),
    ("The 500 was coming from traefik 100%, I can curl the service directly.", "proxy-reply"),
    ("If traefik returns 500, check the backend", None),
    ("I also only get 500 error. I think I have compiled the binary without the assets.", None),
    ("My application is returning `AxiosError: Request failed with status code 530`.", "proxy-reply"),
    ("502 EOF error for websocket connection", "premature-close"),
    # batch 11's classes: Traefik 1.x's forwarder line (the status from the Go error), Envoy's old
    # and retyped wordings, a 503 with "Connection refused", Kong's balancer words retyped, HAProxy's
    # 503 page (no cause: it also answers a queue timeout), nginx's gRPC keepalive failure, told
    # shapes; an example in a reply is talk
    ('time="2017-05-18T08:38:11Z" level=warning msg="Error forwarding to http://100.96.2.63:5000, '
     'err: dial tcp 100.96.2.63:5000: getsockopt: connection refused"', "connection-refused"),
    ("WARN[2016-09-27T11:33:53Z] Error forwarding to https://node2:443, err: x509: certificate "
     "signed by unknown authority", "tls-failure"),
    ('time="2017-10-27T21:44:46Z" level=warning msg="Error forwarding to http://10.42.24.15:80, '
     'err: context canceled"', None),
    ("The tracing log shows the error:  `delayed connection error: 111`", "connection-refused"),
    ("Once failures started, It (the errant ambassador pod) logged `503 UH` errors",
     "no-live-upstreams"),
    ("now I'm getting `upstream request timeouts` with a 504 response:", "read-timeout"),
    ("upstream reset: reset reason connection termination 503 randomly", "premature-close"),
    ("503 Connection refused when enabling Waypoint Proxy in a Namespace", "connection-refused"),
    ('the Kong will respond "failure to get a peer from the ring balancer".', "no-live-upstreams"),
    ("Local development: Kong DNS resolution fails - GoTrue container unable to start",
     "dns-failure"),
    ("No server is available to handle this request.", "proxy-reply"),
    ("2022/10/25 10:00:00 [error] 20620#20620: *327238 no connection data found for keepalive "
     "http2 connection while sending request to upstream, client: 10.0.0.9, server: _, "
     'request: "POST /x HTTP/2.0", host: "a"', "proxy-reply"),
    ("help request: proxy grpc sometimes occurs 502", "proxy-reply"),
    ("So the call to localhost/api/cities/all was failing on each second request (502).",
     "proxy-reply"),
    ("Egress Gateway TLS Origination 503 error", "proxy-reply"),
    ("Random 500 Error returned by Traefik", "proxy-reply"),
    ("What type of 503 did you get? You can check access logs for something like "
     "`503 NR cluster_not_found` or `503 UH no_healthy_upstream`", None),
    # h/edgecorpus14.  nginx's upstream handshake logged under a subrequest's context ([error], no
    # action); the same text without the subrequest is also a Lua cosocket's (a side call), and a
    # client's handshake is [info]: both left alone
    ('2021/03/08 21:16:09 [error] 65945#681239: *2862 SSL_do_handshake() failed (SSL: error:1408F10B:SSL '
     'routines:ssl3_get_record:wrong version number), client: 127.0.0.1, server: , request: "GET /t '
     'HTTP/1.1", subrequest: "/proxy_mirror", host: "a:9080"', "tls-failure"),
    ('2021/03/08 21:16:09 [error] 65945#681239: *2862 SSL_do_handshake() failed (SSL: error:1408F10B:SSL '
     'routines:ssl3_get_record:wrong version number), client: 127.0.0.1, server: , request: "GET /t '
     'HTTP/1.1", host: "a:9080"', None),
    ('2021/03/08 21:16:09 [info] 65945#681239: *2862 SSL_do_handshake() failed (SSL: error:1408F10B:SSL '
     'routines:ssl3_get_record:wrong version number), client: 127.0.0.1, server: , request: "GET /t '
     'HTTP/1.1", subrequest: "/proxy_mirror", host: "a:9080"', None),
    # Traefik 3's error handler (its caller) with the error value bare: zerolog's own `error=EOF`, and a
    # viewer's re-rendering without quotes
    ("2025-07-07T15:46:15Z DBG github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:121 > "
     "502 Bad Gateway error=EOF routerName=web@docker", "premature-close"),
    ("`2025-07-07T15:46:15Z DBG httputil/proxy.go:121 > 502 Bad Gateway | error=dial tcp 10.0.0.5:53007: "
     "connect: no route to host`", "unreachable"),
]


def _classify(tmp_path: Path, line: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    path = tmp_path / "one.log"
    path.write_text(line + "\n", encoding="utf-8")
    capsys.readouterr()
    main(["classify", str(path), "--format", "jsonl", "--no-progress"])
    out = capsys.readouterr().out
    return {r["symptom"] for r in map(json.loads, out.splitlines()) if r.get("symptom")}


def _explain(line: str, capsys: pytest.CaptureFixture[str]) -> str | None:
    capsys.readouterr()
    try:
        main(["explain", "--format", "json", line])
    except SystemExit:
        return None
    out = capsys.readouterr().out
    if not out.strip():  # "not a known upstream-failure line": exit 2, nothing on stdout
        return None
    doc = json.loads(out)
    # the symptom the page leads with: the line's, else the first symptom entry (a term's, a status's)
    named = (doc.get("line") or {}).get("symptom")
    entries = [e["id"] for e in doc.get("entries", []) if e.get("kind") == "symptom"]
    return named or (entries[0] if entries else None)


@pytest.mark.parametrize(("line", "symptom"), CASES, ids=[c[0][:40] for c in CASES])
def test_classify_and_explain_read_a_line_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, symptom: str | None,
) -> None:
    assert read_line(line, families()).symptom == symptom
    assert _classify(tmp_path, line, capsys) == ({symptom} if symptom else set())
    assert _explain(line, capsys) == symptom


def test_a_bare_status_text_is_a_proxy_reply_and_explains_as_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """``504 Gateway Timeout`` alone: classify counts a failed request without a cause (the
    proxy-reply event, exit 1); explain answers with the status's page, which lists what makes
    a 504 and what decides between them."""
    assert read_line("504 Gateway Timeout", families()).symptom == "proxy-reply"
    assert _classify(tmp_path, "504 Gateway Timeout", capsys) == {"proxy-reply"}
    capsys.readouterr()
    main(["explain", "--format", "json", "504 Gateway Timeout"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "status" and doc["status"] is not None


def test_explain_links_the_family_page(capsys: pytest.CaptureFixture[str]) -> None:
    for line, page in (("Error 522 Ray ID: 3044bd1a06490f87", "docs/proxies/cloudflare.md"),
                       (ENVOY + "reset reason: overflow", "docs/proxies/envoy.md"),
                       ("[ERROR 502 /] dial tcp 172.20.0.6:5000: connect: connection refused",
                        "docs/proxies/caddy.md")):
        capsys.readouterr()
        main(["explain", "--format", "json", line])
        assert json.loads(capsys.readouterr().out)["line"]["page"] == page
        assert (Path(__file__).parents[2] / page).is_file()


def test_a_symptom_page_names_the_edge_programs_yielding_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 31 item 8: an Envoy line was explained on a page naming only nginx, Apache, HAProxy."""
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    for symptom, programs in (("connect-failed", {"envoy"}),
                              ("connection-refused", {"envoy", "cloudflare", "caddy", "cloudflared"}),
                              ("no-live-upstreams", {"envoy", "apisix", "ngf"})):
        capsys.readouterr()
        main(["explain", symptom])
        head = next(ln for ln in capsys.readouterr().out.splitlines() if "Proxies:" in ln)
        assert programs <= set(head.split("Proxies:")[1].replace(",", " ").split()), head


def test_an_envoy_json_without_flags_and_without_an_upstream_byte_is_the_proxys_reply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A JSON access log that names Envoy's operators but not %RESPONSE_FLAGS% (Gloo Edge's
    documented format): a 5xx with an empty %RESPONSE_DURATION% (no byte from an upstream) is a
    reply Envoy made, reported without a cause; with a duration it is the backend's."""
    base = ('{"upstreamName":"api_default","httpMethod":"GET","path":"/x","responseCode":503,'
            '"upstreamTransportFailureReason":null,"targetDuration":%s}')
    path = tmp_path / "gloo.log"
    path.write_text(base % "null" + "\n", encoding="utf-8")
    capsys.readouterr()
    main(["classify", str(path), "--format", "jsonl", "--no-progress"])
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [(r["status"], r["made_by"], r["symptom"]) for r in recs] == [(503, "lb", None)]
    path.write_text(base % "12" + "\n", encoding="utf-8")
    main(["classify", str(path), "--format", "jsonl", "--no-progress"])
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert all(r["made_by"] != "lb" for r in recs)
