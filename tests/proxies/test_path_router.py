"""The proxy interface's "which targets serve this request path" (``facts.routes.PathRouter``):
nginx's location search and Apache's mod_proxy order, on config text and on configs the lab
recorded from a real nginx and a real Apache (``tests/fixtures/``).  A proxy without a router
leaves ``ConfigFacts.router`` None, and the FastCGI analyzer then says nothing."""

from __future__ import annotations

from pathlib import Path

from tests.support.paths import FIXTURES_DIR as FIXTURES
from why502.proxies.apache.config import parse_apache_text
from why502.proxies.apache.serving import apache_router
from why502.proxies.nginx.config import parse_nginx
from why502.proxies.nginx.config.serving import nginx_router

NGINX = """
events {}
http {
    upstream app { server 127.0.0.1:8001; server 127.0.0.1:8002; }
    server {
        listen 80;
        server_name a.example;
        location / { proxy_pass http://127.0.0.1:9001; }
        location /api/ { proxy_pass http://app; }
        location /api/static/ { root /srv; }
        location ^~ /assets/ { proxy_pass http://127.0.0.1:9003; }
        location = /exact { proxy_pass http://127.0.0.1:9004; }
        location ~ \\.php$ { fastcgi_pass unix:/run/php/fpm.sock; }
        location /var/ { if ($arg_x) { proxy_pass http://$arg_x; } }
    }
}
"""


def _nginx(tmp_path: Path, text: str = NGINX):  # type: ignore[no-untyped-def]
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return nginx_router(parse_nginx(str(conf), host_paths=False))


def test_nginx_longest_prefix_beats_a_shorter_one(tmp_path: Path) -> None:
    r = _nginx(tmp_path)
    assert r.serving("/api/orders") == ("127.0.0.1:8001", "127.0.0.1:8002")  # the group's servers
    assert r.serving("/other") == ("127.0.0.1:9001",)
    assert r.serving("/api/static/x.css") == ()  # a longer prefix that passes to nothing


def test_nginx_regex_beats_prefix_and_caret_tilde_stops_regexes(tmp_path: Path) -> None:
    r = _nginx(tmp_path)
    assert r.serving("/api/index.php?x=1") == ("unix:/run/php/fpm.sock",)
    assert r.serving("/assets/old.php") == ("127.0.0.1:9003",)


def test_nginx_exact_location_and_unknowable_variables(tmp_path: Path) -> None:
    r = _nginx(tmp_path)
    assert r.serving("/exact") == ("127.0.0.1:9004",)
    assert r.serving("/exact/more") == ("127.0.0.1:9001",)
    assert r.serving("/var/x") is None  # a pass through a variable: can't tell


def test_nginx_servers_that_disagree_without_a_host_say_nothing(tmp_path: Path) -> None:
    two = NGINX.replace("    }\n}\n", "    }\n    server { listen 80; server_name b.example;\n"
                        "        location / { proxy_pass http://127.0.0.1:9100; } }\n}\n")
    r = _nginx(tmp_path, two)
    assert r.serving("/other") is None
    assert r.serving("/other", host="b.example") == ("127.0.0.1:9100",)
    assert r.serving("/other", host="a.example") == ("127.0.0.1:9001",)


def test_nginx_recorded_php_config() -> None:
    """The lab's real nginx in front of PHP-FPM (``location ~ \\.php$``)."""
    cfg = parse_nginx(str(FIXTURES / "recorded" / "php-returns-503" / "nginx.conf"), host_paths=False)
    r = nginx_router(cfg)
    assert r.serving("/app.php") == ("unix:/lab/run/www.sock",)
    assert r.serving("/") == ()


APACHE = """
ProxyPass /api/admin !
ProxyPass /api/ http://127.0.0.1:9001/
ProxyPass /api/v2/ http://127.0.0.1:9002/
ProxyPassMatch "^/(.*\\.cgi)$" "fcgi://127.0.0.1:9000/srv/$1"
<Location /legacy>
    ProxyPass http://127.0.0.1:9005/
</Location>
<FilesMatch "\\.php$">
    SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"
</FilesMatch>
"""


def _apache(text: str = APACHE):  # type: ignore[no-untyped-def]
    return apache_router(parse_apache_text(text, "/etc/apache2/apache2.conf", read_includes=False))


def test_apache_first_proxypass_wins_and_bang_excludes() -> None:
    r = _apache()
    assert r.serving("/api/v2/x") == ("127.0.0.1:9001",)  # the first match, not the longest
    assert r.serving("/api/admin/users") == ()
    assert r.serving("/legacy/page") == ("127.0.0.1:9005",)  # <Location>'s ProxyPass first


def test_apache_proxypassmatch_and_a_filesmatch_handler() -> None:
    r = _apache()
    assert r.serving("/bin/run.cgi") == ("127.0.0.1:9000",)
    assert r.serving("/blog/index.php?p=1") == ("unix:/run/php/php8.2-fpm.sock",)
    assert r.serving("/index.html") == ()
    assert r.serving("/api/x.php") == ("127.0.0.1:9001",)  # ProxyPass before the handler


def test_apache_handler_in_a_directory_cannot_be_told() -> None:
    r = _apache('<Directory /srv>\n  SetHandler "proxy:fcgi://127.0.0.1:9000"\n</Directory>\n')
    assert r.serving("/x.php") is None


def test_apache_recorded_matrix_config() -> None:
    """The lab's real Apache in front of PHP-FPM (``ProxyPassMatch "^/(.*\\.php)$"``)."""
    path = FIXTURES / "matrix-cells" / "apache-fcgi-5xx-quiet" / "apache2.conf"
    r = apache_router(parse_apache_text(path.read_text(), str(path), read_includes=False))
    assert r.serving("/app.php") == ("127.0.0.1:34669",)
    assert r.serving("/") == ()
