"""``findings.redact``: which credential values are replaced, which look-alikes are kept, and the
properties the rest of why502 relies on (per line, idempotent, a redacted diff still applies).

The command-line round trips (every format, ``--no-redact``, ``fix`` of a redacted report, watch)
are in ``tests/cli/test_qa_redact.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.fix.plan import PatchError, apply_diff
from why502.findings.lint import LintFinding, LintReport
from why502.findings.model import EvidenceItem, Finding, Fix, Report
from why502.findings.patch import unified_diff
from why502.findings.redact import MARK, redact, redact_diff, redact_text, same_line

SRC = Path(__file__).parents[2] / "src" / "why502"

# (line, what must disappear, what must stay)
SECRETS = [
    ('proxy_set_header Authorization "Basic c2VjcmV0dXNlcjpodW50ZXIy";', "c2VjcmV0", 'Authorization "Basic '),
    ("proxy_set_header Proxy-Authorization 'Bearer abc.def.ghi';", "abc.def", "Proxy-Authorization"),
    ('proxy_set_header X-Api-Key "AKV-9f8e7d6c5b4a";', "AKV-9f8e", "X-Api-Key"),
    ('proxy_set_header Cookie "sessionid=COOKIEVAL123";', "COOKIEVAL", "Cookie"),
    ("grpc_set_header x-auth-token tok_live_1234;", "tok_live", "x-auth-token"),
    ("fastcgi_param DB_PASSWORD hunter2pass;", "hunter2pass", "DB_PASSWORD"),
    ("fastcgi_param PW abc123;", "abc123", "PW"),
    ("fastcgi_param APP_SECRET lintsecretval;", "lintsecretval", "APP_SECRET"),
    ("uwsgi_param STRIPE_TOKEN xyz987;", "xyz987", "STRIPE_TOKEN"),
    ('set $oauth_client_secret "my-client-secret";', "my-client-secret", "$oauth_client_secret"),
    ("env[DB_PASSWORD] = s3cr3t", "s3cr3t", "env[DB_PASSWORD]"),
    ("SetEnv API_SECRET topsecretval", "topsecretval", "API_SECRET"),
    ('RequestHeader set X-Auth-Token "abc123def"', "abc123def", "X-Auth-Token"),
    ('http-request set-header Authorization "Bearer abcdef123456"', "abcdef123456", '"Bearer '),
    ("stats auth admin:hapass123", "hapass123", "admin:"),
    ("user admin insecure-password plainpw", "plainpw", "insecure-password"),
    ("secure_link_secret verysecret;", "verysecret", "secure_link_secret"),
    ("proxy_pass http://user:s3cretpw@10.0.0.1:8080;", "s3cretpw", "http://user:"),
    ('request: "GET /daily?access_token=TOKVAL-abc123xyz&page=2 HTTP/1.1"', "TOKVAL", "page=2"),
    ('referrer: "https://app.example/x?session=SESSVAL9876"', "SESSVAL", "?session="),
    ('"GET /a;jsessionid=ABCDEF0123456789abcdef HTTP/1.1"', "ABCDEF0123", ";jsessionid="),
    ('"GET /x?sig=Zm9vYmFy&key=AIzaSyA-1234567890abcdefghijklmnopqrstu"', "Zm9vYmFy", "?sig="),
    ('"GET /x?t=Ab3dEf9hIjKlMnOpQrStUvWx HTTP/1.1"', "Ab3dEf9h", "?t="),  # by shape
    ('"GET /cb?id_token=x&s=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln"', "eyJhbGci", "&s="),
    ('"-" "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"', "eyJzdWIi", "Bearer"),
    ('"Basic dXNlcjpwYXNzd29yZA=="', "dXNlcjpw", "Basic"),
    ("Cookie: a=1; PHPSESSID=soqk4avg5j2fjs", "soqk4avg", "Cookie:"),
    ('{"password": "hunter2", "user": "bob"}', "hunter2", '"user": "bob"'),
    ("password: letmein", "letmein", "password:"),
    ("key AKIAIOSFODNN7EXAMPLE in a log", "AKIAIOSFODNN7EXAMPLE", "in a log"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij", ""),
    ("redis://:redispw@cache:6379/0", "redispw", "@cache"),
]

# look-alikes that carry no secret: kept as they are
KEPT = [
    "proxy_set_header Authorization $http_authorization;",
    'proxy_set_header Cookie nginxauth=$cookie_nginxauth;',
    "fastcgi_param PHP_AUTH_USER $remote_user;",
    'proxy_set_header Connection "";',
    "fastcgi_param SESSION_TIMEOUT 30;",
    'fastcgi_param PHP_FLAG "session.auto_start=off";',
    "ssl_session_cache shared:SSL:10m;",
    "ssl_session_timeout 1d;",
    "auth_basic_user_file /etc/nginx/htpasswd;",
    'auth_basic "Restricted";',
    "proxy_cache_path /var/cache/nginx levels=1 keys_zone=token_responses:1m;",
    "The backend answers later than the proxy waits; Basic authentication failed",
    "# Variable proxy_pass: add a resolver",
    "Signature: rare, random",
    '"GET /x?utm_campaign=spring_sale_2024_newsletter&id=9f86d081884c7d659a2feaa0c55ad015 HTTP/1.1"',
    "Main process exited, code=exited, status=127/n/a",
    'upstream timed out (110: Connection timed out) while reading response header from upstream, '
    'client: 127.0.0.1, request: "GET /reports/daily HTTP/1.1", upstream: "http://127.0.0.1:44371/x"',
]


@pytest.mark.parametrize("line,secret,kept", SECRETS)
def test_a_credential_value_is_replaced_and_its_name_kept(line: str, secret: str, kept: str) -> None:
    new, count = redact_text(line)
    assert secret not in new and MARK in new and kept in new and count >= 1, new


@pytest.mark.parametrize("line", KEPT)
def test_look_alikes_without_a_secret_are_kept(line: str) -> None:
    assert redact_text(line) == (line, 0)


def test_redacting_twice_finds_nothing_more() -> None:
    for line, _, _ in SECRETS:
        once, _ = redact_text(line)
        assert redact_text(once) == (once, 0), once


def test_no_pattern_crosses_a_line() -> None:
    """A diff is redacted whole and matched line by line by ``fix``: both must agree."""
    lines = [line for line, _, _ in SECRETS] + KEPT
    whole, count = redact_text("\n".join(lines))
    assert whole.split("\n") == [redact_text(line)[0] for line in lines]
    assert count == sum(redact_text(line)[1] for line in lines)


def test_the_recorded_corpus_and_the_catalog_have_no_false_alarm() -> None:
    """What real reports quote -- the lab's recorded logs and configs, the catalog's prose, the
    bundled demo report -- has no credential: nothing in it may be redacted."""
    import tomllib

    texts = [p for p in (FIXTURES_DIR / "recorded").rglob("*") if p.is_file() and p.suffix != ".gz"]
    hits = [(p.name, line) for p in texts for line in p.read_text("utf-8", "replace").splitlines()
            if redact_text(line)[1]]

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    # the catalog as reports quote it: its strings parsed (TOML's \" escapes are not in a report)
    for path in (SRC / "catalog" / "data").glob("*.toml"):
        data = tomllib.loads(path.read_text("utf-8"))
        hits += [(path.name, line) for text in strings(data) for line in text.splitlines()
                 if redact_text(line)[1]]
    assert hits == []
    demo = Report.from_dict(json.loads((SRC / "demo" / "report.json").read_text("utf-8")))
    assert redact(demo) == demo


CONF = ("events {}\nhttp {\n    server {\n        location / {\n"
        '            proxy_set_header Authorization "Basic c2VjcmV0dXNlcjpodW50ZXIy";\n'
        "            proxy_read_timeout 1s;\n"
        "            fastcgi_param DB_PASSWORD hunter2pass;\n"
        "        }\n    }\n}\n")


def test_a_redacted_diff_applies_to_the_real_file_and_writes_its_own_lines() -> None:
    cured = CONF.replace("proxy_read_timeout 1s;", "proxy_read_timeout 30s;")
    diff = unified_diff(CONF, cured, "/etc/nginx/nginx.conf")
    shown, count = redact_diff(diff)
    assert count == 2 and "hunter2pass" not in shown and "c2VjcmV0" not in shown
    assert len(shown.splitlines()) == len(diff.splitlines())
    assert apply_diff(CONF, shown, "/etc/nginx/nginx.conf") == cured


def test_a_diff_whose_added_line_was_redacted_is_refused() -> None:
    cured = CONF.replace("proxy_read_timeout 1s;", "proxy_read_timeout 30s;\n"
                         "            fastcgi_param API_TOKEN newtoken42;")
    shown, _ = redact_diff(unified_diff(CONF, cured, "/etc/nginx/nginx.conf"))
    with pytest.raises(PatchError, match="redacted"):
        apply_diff(CONF, shown, "/etc/nginx/nginx.conf")


def test_a_redacted_line_matches_only_the_line_it_came_from() -> None:
    real = "            fastcgi_param DB_PASSWORD hunter2pass;\n"
    shown = redact_text(real)[0]
    assert same_line(real, shown)
    assert not same_line(real.replace("DB_PASSWORD", "DB_USER"), shown)
    assert not same_line("            fastcgi_param DB_PASSWORD x;\n", real)  # no mark: exact only


def test_a_diff_line_is_redacted_by_its_body() -> None:
    """``-env[DB_PASSWORD] = x``: the diff's tag is not part of the name (php-fpm pool lines start
    at column 0)."""
    diff = "--- a/www.conf\n+++ b/www.conf\n@@ -1,2 +1,2 @@\n-env[DB_PASSWORD] = s3cr3t\n+pm = static\n"
    shown, count = redact_diff(diff)
    assert count == 1 and "s3cr3t" not in shown and "-env[DB_PASSWORD] = [redacted]" in shown


def test_every_field_of_a_report_and_of_a_lint_report_is_walked() -> None:
    evidence = EvidenceItem("log", "summary ?access_token=Ab3dEf9hIjKlMnOpQrStUvWx",
                            text="GET /?password=pw1")
    fix = Fix("raise it", commands=["curl -H 'X-Api-Key: k3y'"], notes=["Cookie: c=1"],
              diff="--- a/www.conf\n+++ b/www.conf\n@@ -1 +1 @@\n-env[DB_PASSWORD] = pw0\n+pm = static\n",
              hashes={"/f": "0" * 64})
    finding = Finding("backend-too-slow", "t", 0.9, [504], ["read-timeout"], "x", evidence=[evidence],
                      fix=fix)
    report = redact(Report(findings=[finding], inputs={"cmd": "token=tok9"}))
    text = json.dumps(report.to_dict())
    for secret in ("Ab3dEf9h", "pw0", "pw1", "k3y", "c=1", "tok9"):
        assert secret not in text
    assert report.redacted == 6 and report.findings[0].fix is not None
    assert report.findings[0].fix.hashes == {"/f": "0" * 64}  # the pins are kept as they are
    assert redact(report) == report  # a second pass adds nothing (render of a redacted report)
    lint = redact(LintReport((LintFinding("W502-001", "n", "warning", "password=pw2", "f", 1,
                                          diff=" fastcgi_param DB_PASSWORD pw3;\n"),)))
    assert lint.redacted == 2 and "pw2" not in str(lint) and "pw3" not in str(lint)


def test_a_word_glued_to_a_parenthesis_is_not_a_pair() -> None:
    """Kong's DNS error quotes its lookup tries as ``(short)auth:(na)``: no credential there."""
    line = 'DNS resolution failed: dns server error: 3 name error. Tried: ["(short)auth:(na) - cache-miss"]'
    assert redact_text(line) == (line, 0)
    assert redact_text("auth: s3cr3tvalue")[1] == 1
