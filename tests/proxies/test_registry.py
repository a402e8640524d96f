"""The proxy registry (``why502.proxies``): the one detector, the one map, the Proxy interface.

Detection reads a config with its quoted strings and comments masked: a brace or a keyword in a
string is not grammar.  The configs below are the shapes that fooled the detector of
``parsers.proxykind`` (it counted braces inside quoted strings): a ``haproxy.cfg`` whose
``log-format`` holds JSON (HAProxy's own example of a JSON log, configuration.txt 8.2.6 "Custom
log format") was "not a config why502 recognises" (exit 3), and one whose ``http-request return``
answers JSON was read *silently as nginx* (``http-request`` starts with ``http``, and the brace
followed on the line).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import why502.proxies as registry
from tests.support.clirun import why502
from why502.errors import InputError, UsageError
from why502.proxies import PROXIES, Capability, Proxy, choose, detect_file, detect_process, detect_text
from why502.proxies.base import mask, resolve

HAPROXY_JSON_LOG = """\
global
    log stdout format raw local0

defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    # JSON access log (configuration.txt 8.2.6); %[...] are sample fetches
    log-format '{"time":"%t","client":"%ci","backend":"%b","server":"%s","status":%ST,"Tt":%Tt}'

frontend web
    bind 127.0.0.1:8080
    default_backend app

backend app
    server a1 127.0.0.1:9001 check
"""

HAPROXY_JSON_RETURN = """\
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:8080
    http-request return status 200 content-type application/json string '{"ok":true}' if { path /health }
    default_backend app

backend app
    server a1 127.0.0.1:9001 check
"""

APACHE_JSON_LOG = """\
ServerRoot "/etc/apache2"
Listen 8080
LoadModule proxy_module modules/mod_proxy.so
LoadModule proxy_http_module modules/mod_proxy_http.so
# one JSON object per request (mod_log_config's LogFormat; the quotes inside are escaped)
LogFormat "{ \\"time\\":\\"%{%Y-%m-%dT%H:%M:%S}t\\", \\"server {\\": \\"%v\\", \\"status\\":%>s }" json
CustomLog /var/log/apache2/access.json json
<VirtualHost *:8080>
    ProxyPass / http://127.0.0.1:9001/ timeout=30
</VirtualHost>
"""

NGINX_QUOTED = """\
# frontend/backend as words in a comment, HAProxy's keywords at a line start in a string
events {}
http {
    log_format json escape=json '{"backend":"$upstream_addr",'
'frontend {"status":$status}}';
    server {
        listen 8080;
        add_header X-Info "backend app" always;
        location / { proxy_pass http://127.0.0.1:9001; }
    }
}
"""


@pytest.mark.parametrize(("text", "want"), [
    (HAPROXY_JSON_LOG, "haproxy"), (HAPROXY_JSON_RETURN, "haproxy"), (APACHE_JSON_LOG, "apache"),
    (NGINX_QUOTED, "nginx")])
def test_braces_and_keywords_in_strings_are_not_grammar(text: str, want: str) -> None:
    assert detect_text(text) == want


def test_a_json_log_format_haproxy_cfg_is_linted_as_haproxy(tmp_path: Path) -> None:
    """End to end: before, ``lint`` read the first as nginx (exit 0, "no findings") or refused
    the second (exit 3)."""
    for i, text in enumerate((HAPROXY_JSON_LOG, HAPROXY_JSON_RETURN)):
        cfg = tmp_path / f"haproxy{i}.cfg"
        cfg.write_text(text)
        res = why502("lint", "--config", str(cfg), "--format", "json")
        assert res.returncode in (0, 1), res.stderr
        assert json.loads(res.stdout)["inputs"]["proxy"] == "haproxy"


def test_mask_keeps_lines_and_blanks_strings_and_comments() -> None:
    text = 'a "x{y" b # c {\n\'q\\\'{\' d\nunclosed "{ rest\n'
    out = mask(text)
    assert out.count("\n") == text.count("\n") and len(out) == len(text)
    assert "{" not in out and out.split() == ["a", "b", "d", "unclosed"]
    # Apache: a '#' mid-line is an argument, only a line's start is a comment
    assert mask("  # a {\nHeader set X a#b\n", hash_comments_anywhere=False).split() == [
        "Header", "set", "X", "a#b"]


def test_a_main_file_of_includes_is_detected_through_them(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "site.conf").write_text("server {\n listen 80;\n location / {\n"
                                                   "  proxy_pass http://127.0.0.1:1;\n }\n}\n")
    (tmp_path / "nginx.conf").write_text("include conf.d/*.conf;\n")
    assert detect_text("include conf.d/*.conf;\n") is None
    assert detect_file(str(tmp_path / "nginx.conf")) == "nginx"
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "app.conf").write_text("<VirtualHost *:80>\n ProxyPass / http://a/\n"
                                                 "</VirtualHost>\n")
    (tmp_path / "httpd.conf").write_text('Include "sites/*.conf"\n')
    assert detect_file(str(tmp_path / "httpd.conf")) == "apache"
    (tmp_path / "loop.conf").write_text("include loop.conf;\n")  # bounded, no recursion
    titles = [p.vocabulary.title for p in PROXIES.values()]  # the registry's, in its order
    listed = f"{', '.join(titles[:-1])} or {titles[-1]}"
    with pytest.raises(InputError, match=re.escape(f"not a config of {listed}")):
        detect_file(str(tmp_path / "loop.conf"))
    assert detect_file(str(tmp_path / "loop.conf"), fallback="nginx") == "nginx"
    assert detect_file(str(tmp_path / "missing.conf"), fallback="nginx") == "nginx"


def test_proxy_overrides_detection_and_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_JSON_LOG)
    assert choose(None, str(cfg)) == "haproxy"
    assert choose("nginx", str(cfg)) == "nginx"
    assert choose(None, "-") == choose(None, None) == registry.DEFAULT
    # every registered name, in the registry's order (a new proxy needs no edit here)
    with pytest.raises(UsageError, match=re.escape(f"--proxy must be one of {', '.join(PROXIES)}")):
        choose("lighttpd", None)


@pytest.mark.parametrize(("comm", "argv", "want"), [
    ("nginx", ["nginx: master process /usr/sbin/nginx -g daemon on;"], "nginx"),
    ("nginx", ["nginx: worker process"], "nginx"),
    ("apache2", ["/usr/sbin/apache2", "-k", "start"], "apache"),
    ("httpd", ["/usr/sbin/httpd", "-DFOREGROUND"], "apache"),
    ("haproxy", ["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg"], "haproxy"),
    ("python3", ["python3", "-m", "http.server"], None)])
def test_process_table_detection(comm: str, argv: list[str], want: str | None) -> None:
    assert detect_process(comm, argv) == want


def test_every_proxy_implements_the_interface_and_its_hooks_resolve() -> None:
    for name, proxy in PROXIES.items():
        assert isinstance(proxy, Proxy) and proxy.name == name
        for hook in vars(proxy.hooks).values():
            assert hook in ("", None) or resolve(hook) is not None, hook  # "" / None: not offered
        # a proxy with a config test names it first; Traefik's file provider has none (it reloads
        # the file itself on change): no command
        cmds = proxy.reload_commands(None)
        assert not cmds or cmds[0].split()[0] in proxy.vocabulary.config_test
    # exactly one proxy's words are the catalog's, which the others reword
    assert [p.name for p in PROXIES.values() if p.can(Capability.CATALOG_WORDING)] == [registry.DEFAULT]


def test_the_registry_is_the_one_list_of_proxies() -> None:
    """The lab names the same proxies as the registry; the catalog names none of its own: each
    lint rule's ``proxy`` (its TOML) is a registered proxy, the one whose lint plug-in
    implements it (``analyzers.lint.registry.registered`` checks it), and every proxy has one."""
    from why502.analyzers.lint.registry import registered
    from why502.catalog.lint_rules import load_rules
    from why502.lab.scenarios.model import PROXIES as LAB_PROXIES

    assert set(LAB_PROXIES) == set(PROXIES)
    checks = registered()
    assert {code: r.proxy for code, r in load_rules().items()} == {c: k.proxy for c, k in checks.items()}
    assert {k.proxy for k in checks.values()} == set(PROXIES)
