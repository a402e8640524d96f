"""The nginx config model: includes, dumps from the real nginx, inheritance, defaults, targets."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.errors import InputError
from why502.proxies.nginx.config import (
    directive_info,
    make_directive_diff,
    parse_dump,
    parse_nginx,
    parse_size,
    parse_time,
    split_dump,
)
from why502.proxies.nginx.config.load import config_trees
from why502.proxies.nginx.source import load_config

CORPUS = FIXTURES_DIR / "corpus" / "nginx-configs"
NGINX = "/usr/sbin/nginx"


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


# --- helpers -----------------------------------------------------------------------------


def test_sizes_and_times() -> None:
    assert parse_size("4k") == 4096
    assert parse_size("1m") == 1024 * 1024
    assert parse_size("512") == 512
    assert parse_size("$var") is None
    assert parse_time("60s") == 60
    assert parse_time("1m30s") == 90
    assert parse_time("500ms") == 0.5
    assert parse_time("75") == 75
    assert parse_time("1h 30m") == 5400
    assert parse_time("abc") is None


def test_directive_table_defaults() -> None:
    info = directive_info("proxy_read_timeout")
    assert info is not None and info.default == "60s" and info.type == "time"
    assert info.doc.endswith("ngx_http_proxy_module.html#proxy_read_timeout")
    assert directive_info("proxy_buffer_size").default == "4k"  # type: ignore[union-attr]
    assert directive_info("proxy_set_header").inherit == "array"  # type: ignore[union-attr]
    assert directive_info("keepalive_timeout", "upstream").default == "60s"  # type: ignore[union-attr]
    assert directive_info("keepalive_timeout").default == "75s"  # type: ignore[union-attr]


# --- includes ----------------------------------------------------------------------------


def test_include_glob_relative_and_missing(tmp_path: Path) -> None:
    write(tmp_path, "nginx.conf", """\
        user www-data;
        events { worker_connections 1024; }
        http {
            include conf.d/*.conf;
            include none.d/*.conf;
            include missing.conf;
        }
        """)
    write(tmp_path, "conf.d/b.conf", "server { listen 8081; server_name b; }\n")
    write(tmp_path, "conf.d/a.conf", "server { listen 8080; server_name a; location / { } }\n")
    write(tmp_path, "conf.d/skip.txt", "garbage {{{\n")
    cfg = parse_nginx(tmp_path / "nginx.conf")
    assert [s.name for s in cfg.servers] == ["a", "b"]  # glob order is sorted
    assert cfg.servers[0].file == str(tmp_path / "conf.d/a.conf")
    assert cfg.servers[0].line == 1
    assert cfg.user == "www-data" and not cfg.user_is_default
    assert cfg.worker_connections == 1024
    assert len(cfg.files) == 3
    missing = [p for p in cfg.problems if "missing.conf" in p.message]
    assert missing and missing[0].line == 6  # the empty glob is fine, the explicit file is not


def test_corpus_globbed_includes_never_read_decoy() -> None:
    cfg = parse_nginx(CORPUS / "crossplane-includes-globbed/nginx.conf")
    assert not any("not-included" in f for f in cfg.files)
    assert len(cfg.servers) == 2
    assert not cfg.problems


def test_corpus_parses_without_crash() -> None:
    entries = config_trees(CORPUS)
    assert len(entries) > 50
    total_targets = 0
    for entry in entries:
        cfg = parse_nginx(entry.main, root=entry.root, aliases=entry.aliases)
        assert cfg.files, entry.name
        assert all("/etc/nginx" not in f for f in cfg.files), "read this machine's /etc/nginx"
        total_targets += len(cfg.targets())
        for loc in cfg.all_locations():
            loc.effective("proxy_read_timeout")
    assert total_targets > 50


def test_corpus_absolute_includes_under_root() -> None:
    root = CORPUS / "linuxserver-swag"
    cfg = parse_nginx(root / "etc/nginx/nginx.conf", root=str(root))
    assert any(f.endswith("config/nginx/site-confs/default.conf") for f in cfg.files)
    variable = [t for t in cfg.targets() if t.uses_variables]
    assert variable, "proxy-confs use proxy_pass $upstream_proto://$upstream_app:$upstream_port"


def test_broken_corpus_files_are_problems_not_crashes() -> None:
    cfg = parse_nginx(CORPUS / "ingress-nginx-cleanConf.src.conf")
    assert any(p.severity == "error" for p in cfg.problems)


# --- dumps -------------------------------------------------------------------------------


def real_dump(tmp_path: Path) -> str:
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    conf = write(tmp_path, "nginx.conf", """\
        pid nginx.pid;
        error_log stderr;
        events { worker_connections 64; }
        http {
            access_log off;
            log_format timing escape=json '{"s":"$status",'
                                          '"urt":"$upstream_response_time"}';
            upstream app { server 127.0.0.1:9 max_fails=3 fail_timeout=30s; keepalive 4; }
            include conf.d/*.conf;
        }
        """)
    write(tmp_path, "conf.d/site.conf", """\
        server {
            listen 127.0.0.1:18080;
            server_name site;
            proxy_read_timeout 5s;
            location / {
                proxy_pass http://app;
            }
        }
        """)
    proc = subprocess.run([NGINX, "-T", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_real_nginx_T_dump(tmp_path: Path) -> None:
    dump = real_dump(tmp_path)
    pieces = split_dump(dump)
    assert [p for p, _ in pieces] == [str(tmp_path / "nginx.conf"), str(tmp_path / "conf.d/site.conf")]
    cfg = parse_dump(dump)
    assert cfg.files[0] == str(tmp_path / "nginx.conf")
    (server,) = cfg.servers
    assert server.file == str(tmp_path / "conf.d/site.conf")
    (loc,) = server.locations
    assert loc.line == 5
    eff = loc.effective("proxy_read_timeout")
    assert (eff.seconds, eff.line, eff.level) == (5.0, 4, "server")
    (target,) = cfg.targets()
    assert target.group == "app" and target.line == 6
    up = cfg.upstreams["app"]
    assert up.keepalive == 4 and up.servers[0].max_fails == 3 and up.servers[0].fail_timeout == 30
    fmt = cfg.log_formats["timing"]
    assert fmt.escape == "json" and fmt.format == '{"s":"$status","urt":"$upstream_response_time"}'
    # the file text comes from the dump, so diffs work without the files on disk
    assert cfg.file_text(server.file) is not None
    assert "proxy_pass http://app;" in (cfg.file_text(server.file) or "")


def test_load_config_dump_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = real_dump(tmp_path)
    saved = tmp_path / "dump.txt"
    saved.write_text("nginx: the configuration file x syntax is ok\n" + dump)
    cfg = load_config(str(saved))
    assert cfg.targets()[0].group == "app"
    monkeypatch.setattr(sys, "stdin", io.StringIO(dump))
    cfg2 = load_config("-")
    assert cfg2.upstreams["app"].keepalive == 4 and cfg2.source == "stdin"


def test_load_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_config(str(tmp_path / "nope.conf"))
    with pytest.raises(InputError, match="directory"):
        load_config(str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO("server { }"))
    with pytest.raises(InputError, match="dump"):
        load_config("-")


# --- inheritance, defaults, targets ------------------------------------------------------


INHERIT = """\
    events { }
    http {
        proxy_read_timeout 30s;
        proxy_set_header X-A a;
        resolver 127.0.0.53;
        server {
            listen 80;
            proxy_connect_timeout 2s;
            location /a {
                proxy_read_timeout 90s;
                proxy_set_header X-B b;
                proxy_set_header X-C c;
                location /a/inner {
                    proxy_pass http://127.0.0.1:8000;
                }
                proxy_pass http://127.0.0.1:8001;
            }
            location /b {
                proxy_pass http://127.0.0.1:8002;
            }
        }
    }
    """


def test_inheritance_and_defaults(tmp_path: Path) -> None:
    cfg = parse_nginx(write(tmp_path, "nginx.conf", INHERIT))
    (server,) = cfg.servers
    a, b = server.locations
    (inner,) = a.locations
    assert inner.effective("proxy_read_timeout").seconds == 90  # nested location inherits
    assert b.effective("proxy_read_timeout").seconds == 30  # from http
    assert b.effective("proxy_connect_timeout").seconds == 2  # from server
    send = b.effective("proxy_send_timeout")
    assert send.is_default and send.seconds == 60 and send.file is None
    assert b.effective("proxy_buffer_size").bytes == 4096
    assert b.effective("proxy_http_version").value == "1.0"
    assert b.effective("proxy_next_upstream").value == "error timeout"
    assert b.effective("proxy_ssl_server_name").value == "off"
    assert b.effective("resolver").value == "127.0.0.53"
    # array directives: the level with any proxy_set_header replaces the outer ones entirely
    hdrs = inner.effective("proxy_set_header")
    assert [e.args[0] for e in hdrs.entries] == ["X-B", "X-C"]
    assert [e.args[0] for e in b.effective("proxy_set_header").entries] == ["X-A"]
    # proxy_pass is not inherited by the nested location
    assert inner.effective("proxy_pass").value == "http://127.0.0.1:8000"
    assert a.effective("proxy_pass").line == 16


TARGETS = """\
    events { }
    http {
        upstream backend { least_conn; server 10.0.0.1:8080 weight=2; server unix:/run/b.sock backup;
                           server app.internal down; keepalive 8; keepalive_timeout 30s; }
        server {
            listen [::1]:8443 ssl;
            location /p { proxy_pass http://backend/api/; }
            location /h { proxy_pass https://api.example.com; }
            location /u { proxy_pass http://unix:/run/app.sock:/x; }
            location /v { proxy_pass http://$host:8080; }
            location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }
            location /f { fastcgi_pass 127.0.0.1:9000; }
            location /w { uwsgi_pass backend; }
            location /s { scgi_pass 127.0.0.1:4000; }
            location /g { grpc_pass grpcs://[::1]; }
            location /g2 { grpc_pass 127.0.0.1:50051; }
            location /m { memcached_pass 127.0.0.1:11211; }
            location /i { if ($arg_x) { proxy_pass http://127.0.0.1:81; } }
        }
    }
    stream { upstream db { server 127.0.0.1:5432; } server { listen 15432; proxy_pass db; } }
    """


def test_targets_of_every_kind(tmp_path: Path) -> None:
    cfg = parse_nginx(write(tmp_path, "nginx.conf", TARGETS))
    ts = {t.location: t for t in cfg.targets() if t.context == "http"}
    assert ts["/p"].group == "backend" and ts["/p"].uri == "/api/"
    assert (ts["/h"].scheme, ts["/h"].host, ts["/h"].port) == ("https", "api.example.com", 443)
    assert ts["/u"].unix_path == "/run/app.sock" and ts["/u"].uri == "/x"
    assert ts["/v"].uses_variables and ts["/v"].port == 8080
    assert ts["~ \\.php$"].unix_path == "/run/php/php8.2-fpm.sock" and ts["~ \\.php$"].kind == "fastcgi"
    assert (ts["/f"].host, ts["/f"].port) == ("127.0.0.1", 9000)
    assert ts["/w"].kind == "uwsgi" and ts["/w"].group == "backend"
    assert ts["/s"].kind == "scgi"
    assert (ts["/g"].scheme, ts["/g"].host, ts["/g"].port) == ("grpcs", "::1", 443)
    assert ts["/g"].address == "[::1]:443"
    assert (ts["/g2"].scheme, ts["/g2"].port) == ("grpc", 50051)
    assert ts["/m"].kind == "memcached"
    assert ts["if ($arg_x)"].port == 81
    (stream,) = [t for t in cfg.targets() if t.context == "stream"]
    assert stream.group == "db"
    up = cfg.upstreams["backend"]
    assert up.balancing == "least_conn" and up.keepalive == 8 and up.keepalive_timeout == 30
    s1, s2, s3 = up.servers
    assert (s1.host, s1.port, s1.weight, s1.max_fails, s1.fail_timeout) == ("10.0.0.1", 8080, 2, 1, 10)
    assert s2.unix_path == "/run/b.sock" and s2.backup
    assert s3.down and s3.port == 80
    assert cfg.servers[0].listens[0].address == "::1" and cfg.servers[0].listens[0].port == 8443
    assert cfg.user is None and cfg.user_is_default and cfg.worker_connections == 512


def test_logs_and_formats(tmp_path: Path) -> None:
    cfg = parse_nginx(write(tmp_path, "nginx.conf", """\
        error_log /var/log/nginx/error.log warn;
        events { }
        http {
            log_format main '$remote_addr "$request" '
                            '$status $upstream_response_time';
            access_log /var/log/nginx/access.log main;
            server { listen 80; server_name s; access_log /var/log/nginx/s.log; error_log /tmp/e.log; }
        }
        """))
    assert [(e.path, e.level) for e in cfg.error_logs] == [
        ("/var/log/nginx/error.log", "warn"), ("/tmp/e.log", "error")]
    assert [(a.path, a.format, a.server) for a in cfg.access_logs] == [
        ("/var/log/nginx/access.log", "main", None), ("/var/log/nginx/s.log", "combined", "s")]
    assert cfg.log_formats["main"].format == '$remote_addr "$request" $status $upstream_response_time'
    assert cfg.log_formats["main"].line == 4
    assert "combined" in cfg.log_formats


# --- diffs -------------------------------------------------------------------------------


def test_make_directive_diff_replace_and_insert(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        http {
            upstream app {
                server 127.0.0.1:8000;
                keepalive 16;
            }
            server {
                location / {
                    proxy_pass http://app;
                    proxy_http_version 1.0; # old
                }
            }
        }
        """)
    diff = make_directive_diff(text, "/etc/nginx/nginx.conf", directive="proxy_http_version",
                               value="1.1", block_line=7, existing_line=9)
    assert "-            proxy_http_version 1.0; # old" in diff
    assert "+            proxy_http_version 1.1; # old" in diff
    assert diff.startswith("--- a/etc/nginx/nginx.conf\n+++ b/etc/nginx/nginx.conf\n")
    ins = make_directive_diff(text, "nginx.conf", directive="proxy_set_header",
                              value='Connection ""', block_line=7)
    assert '+            proxy_set_header Connection "";' in ins
    # the diff applies with the real patch tool
    f = tmp_path / "nginx.conf"
    f.write_text(text)
    (tmp_path / "fix.diff").write_text(ins)
    subprocess.run(["patch", "-p1", "-s", "-i", "fix.diff"], cwd=tmp_path, check=True)
    assert '            proxy_set_header Connection "";\n            proxy_pass' in f.read_text()
    with pytest.raises(ValueError):
        make_directive_diff(text, "x", directive="proxy_read_timeout", value="1s", block_line=1,
                            existing_line=3)


def test_diff_keeps_tab_indentation_and_fragment_model(tmp_path: Path) -> None:
    text = "server {\n\tlisten 80;\n\tlocation / {\n\t\tproxy_pass http://127.0.0.1:8000;\n\t}\n}\n"
    diff = make_directive_diff(text, "site.conf", directive="proxy_read_timeout", value="120s", block_line=3)
    assert "+\t\tproxy_read_timeout 120s;\n" in diff
    # a conf.d file (server blocks, no http) is read as if included in http {}
    cfg = parse_nginx(write(tmp_path, "site.conf", text))
    assert len(cfg.servers) == 1 and cfg.targets()[0].port == 8000
    assert any("fragment" in p.message for p in cfg.problems)
    # a server-level snippet (locations only) is read inside a pseudo server
    snippet = parse_nginx(write(tmp_path, "snippet.conf", "location /a { proxy_pass http://127.0.0.1:1; }\n"))
    assert snippet.targets()[0].location == "/a"


def test_user_directive_and_default(tmp_path: Path) -> None:
    cfg = parse_nginx(write(tmp_path, "a.conf", "user nginx web;\nevents { worker_connections 2048; }\n"))
    assert (cfg.user, cfg.group, cfg.user_is_default, cfg.worker_connections) == ("nginx", "web", False, 2048)
    info = directive_info("user")
    assert info is not None and info.default == "nobody nobody"  # nginx's compiled-in default


def test_host_facts_from_this_machine(tmp_path: Path) -> None:
    """somaxconn and MemTotal come from the real /proc."""
    from why502.proxies.nginx.source import host_facts

    cfg = parse_nginx(write(tmp_path, "a.conf", "events { }\n"))
    facts = host_facts(cfg)
    assert facts.somaxconn == int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert facts.mem_total and facts.mem_total > 64 * 1024 * 1024
