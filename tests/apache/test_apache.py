"""Apache httpd: config reading (includes, scopes, targets, timeouts) and diagnose on the real
recordings of tests/fixtures/recorded-proxies/apache (Apache 2.4, mod_proxy)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.proxies.apache.config import load_apache
from why502.proxies.apache.facts import apache_facts
from why502.proxies.apache.log import compile_log_format, to_nginx_line

APACHE = FIXTURES_DIR / "recorded-proxies" / "apache"


def test_includes_scopes_targets_and_effective_timeouts(tmp_path: Path) -> None:
    (tmp_path / "envvars").write_text("export APACHE_LOG_DIR=/var/log/apache2$SUFFIX\n"
                                      "export APACHE_RUN_USER=www-data\n")
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "apache2.conf").write_text(
        f"ServerRoot {tmp_path}\nTimeout 300\nUser ${{APACHE_RUN_USER}}\n"
        "ErrorLog ${APACHE_LOG_DIR}/error.log\n"
        "IncludeOptional sites-enabled/*.conf\nIncludeOptional conf-enabled/*.conf\n")
    (tmp_path / "sites-enabled" / "app.conf").write_text(
        "<VirtualHost *:80>\n"
        "    ProxyTimeout 30\n"
        "    <Proxy balancer://pool>\n"
        "        BalancerMember http://10.0.0.1:8080 retry=5\n"
        "        BalancerMember http://10.0.0.2:8080\n"
        "    </Proxy>\n"
        "    ProxyPass /api/ balancer://pool/ \\\n"
        "        timeout=90\n"
        "    ProxyPass /static !\n"
        "    <FilesMatch \\.php$>\n"
        '        SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"\n'
        "    </FilesMatch>\n"
        "</VirtualHost>\n"
        "ProxyPass /legacy http://127.0.0.1:9000/\n")
    cfg = load_apache(str(tmp_path / "apache2.conf"))
    assert cfg.user == "www-data" and cfg.error_logs == ["/var/log/apache2/error.log"]
    assert not cfg.problems  # IncludeOptional of nothing is no problem
    by_key = {t.key: t for t in cfg.targets()}
    assert set(by_key) == {"10.0.0.1:8080", "10.0.0.2:8080", "unix:/run/php/php8.2-fpm.sock",
                           "127.0.0.1:9000"}
    member = by_key["10.0.0.1:8080"]
    assert member.group == "balancer://pool" and member.param("retry") == "5"
    # in the vhost: ProxyTimeout 30 beats Timeout 300; at server level Timeout 300 applies
    assert cfg.timeout(by_key["unix:/run/php/php8.2-fpm.sock"]).value == "30"
    assert cfg.timeout(by_key["127.0.0.1:9000"]).value == "300"
    assert by_key["unix:/run/php/php8.2-fpm.sock"].kind == "fastcgi"
    targets, groups, _files, aliases = apache_facts(cfg)
    assert groups["balancer://pool"].servers == ("10.0.0.1:8080", "10.0.0.2:8080")
    assert aliases["/run/php/php8.2-fpm.sock"] == "unix:/run/php/php8.2-fpm.sock"
    assert aliases["10.0.0.1"] == "10.0.0.1:8080"
    # AH01102 names a unix-socket worker by its URL's host and the scheme's default port
    # (fcgi: 8000, proxy_util.c), not by its path
    assert aliases["localhost:8000"] == "unix:/run/php/php8.2-fpm.sock"
    assert {t.settings["directive"].value for t in targets} == {"BalancerMember", "SetHandler",
                                                                "ProxyPass"}


CASES = {
    "http-refused": "backend-not-running",
    "fcgi-socket-missing": "backend-not-running",
    "fcgi-refused": "backend-not-running",
    "http-read-timeout": "backend-too-slow",
    "fcgi-read-timeout": "backend-too-slow",
    "http-reset": "backend-crashed",
    "fcgi-worker-crash": "backend-crashed",
    "balancer-no-recovery": "backend-not-running",  # the refusals; all down is their consequence
    "fcgi-php-fatal": "app-fatal-error",
}


def _diagnose(case: str, conf: Path | None = None) -> dict[str, object]:
    report = diagnose(DiagnoseOptions(config=str(conf or APACHE / f"{case}.conf"),
                                      error_logs=[str(APACHE / f"{case}.log")], offline=True))
    return report.to_dict()


@pytest.mark.parametrize(("case", "cause"), CASES.items())
def test_top_finding_is_the_cause_nginx_would_get(case: str, cause: str) -> None:
    data = _diagnose(case)
    findings = data["findings"]
    assert isinstance(findings, list) and findings and findings[0]["cause"] == cause
    assert data["inputs"]["proxy"] == "apache"  # type: ignore[index]
    assert "nginx" not in json.dumps({k: findings[0][k] for k in ("explanation", "evidence")})


@pytest.mark.real
@pytest.mark.parametrize("case", ["http-read-timeout", "fcgi-read-timeout"])
def test_timeout_fix_applies_and_apache_accepts_it(case: str, tmp_path: Path) -> None:
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    if not Path(binary).exists():
        pytest.skip("apache2 is not installed (apt-get install apache2)")
    root = tmp_path / "lab"
    for sub in ("run", "logs", "www"):
        (root / sub).mkdir(parents=True)
    conf = root / "apache2.conf"
    conf.write_text((APACHE / f"{case}.conf").read_text().replace("/lab", str(root)))
    fix = _diagnose(case, conf)["findings"][0]["fix"]  # type: ignore[index]
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=fix["diff"],
                         text=True, capture_output=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "30" in conf.read_text()
    check = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_stats_compiles_the_customlog_format_of_the_config(run_main: RunMain) -> None:
    """The lab's Apache wrote this access log with ``LogFormat "... %D" timed`` (microseconds):
    stats reads the format from the config's CustomLog and turns %D into seconds."""
    d = FIXTURES_DIR / "recorded" / "apache-too-slow"
    code, out, err = run_main("stats", "--config", str(d / "apache2.conf"), "--format", "json",
                              str(d / "apache-access.log"))
    assert code == 1, err  # 1: the log holds 5xx
    data = json.loads(out)
    assert data["requests"] == 1 and data["by_status"] == {"502": 1}
    assert "%D" in data["log_format"]
    fmt = compile_log_format('%h %l %u %t "%r" %>s %b %{ms}T "%{Host}i"')
    row = to_nginx_line('1.2.3.4 - - [01/May/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 - 1500 "a.example"',
                        fmt)
    assert row is not None and "rt=1.500" in row and '"a.example"' in row


def test_a_peerless_fastcgi_timeout_is_the_one_fastcgi_backends_beside_http_ones(tmp_path: Path) -> None:
    """AH01075 "Error dispatching request to : (polling)" names no peer.  With one FastCGI
    backend and an HTTP one beside it (another application's ProxyPass) it is still the FastCGI
    one's: mod_proxy_http never writes it (stop 46: a full PHP-FPM pool on a noisy host read its
    timeouts with no target); with two FastCGI backends it is nobody's in particular."""
    conf = tmp_path / "apache2.conf"
    conf.write_text('ProxyPass /other/ http://127.0.0.1:8080/\n'
                    'ProxyPassMatch "^/(.*\\.php)$" "fcgi://127.0.0.1:9000/var/www/$1"\n')
    _targets, _groups, _files, aliases = apache_facts(load_apache(str(conf)))
    assert aliases[""] == "127.0.0.1:9000"
    conf.write_text(conf.read_text() + 'ProxyPassMatch "^/admin/(.*\\.php)$" "fcgi://127.0.0.1:9001/srv/$1"\n')
    _targets, _groups, _files, aliases = apache_facts(load_apache(str(conf)))
    assert "" not in aliases
