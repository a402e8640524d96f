"""Diagnose's fixes are real patches: each config diff of a report on a recorded fixture applies
with the real `patch -p1` and gives a config the real nginx accepts (`nginx -t`), as lint's fixes
do (tests/lint/test_lint_cli.py); PHP-FPM pool diffs pass `php-fpm -t`.

The fixtures are what a real nginx / PHP-FPM wrote (tests/fixtures/recorded/); each is copied to
a temp dir with its paths pointed there, diagnosed offline, and every fix diff is applied to a
fresh copy, the way the person on call would: `patch -p1 -d /` (the labels are `a/` and `b/` +
the absolute path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.diagnose.test_diagnose_fixtures import METAS, diagnose_fixture, materialize

NGINX = "/usr/sbin/nginx"
PHP_FPM = shutil.which("php-fpm8.2") or shutil.which("php-fpm")

# The recorded scenarios whose report carries a fix as a diff, by the file it edits.
NGINX_FIXES = {
    "backend-too-slow", "body-read-timeout", "buffer-too-small", "dns-no-resolver", "fd-limit",
    "keepalive-misconfigured", "keepalive-race", "protocol-fastcgi-to-http", "send-timeout",
    "two-causes-two-locations",
    "tls-no-sni", "upstream-tls-mismatch", "wrong-target-fpm-socket", "wrong-target-ipv6",
    "protocol-mismatch", "wrong-target-loopback", "upstream-down-in-config", "all-upstreams-down",
}


def fix_diffs(meta: dict[str, Any]) -> list[str]:
    report, _ = diagnose_fixture(meta)
    return [f.fix.diff for f in report.findings if f.fix is not None and f.fix.diff]


def labels(diff: str) -> list[str]:
    return re.findall(r"^\+\+\+ b(/\S+)$", diff, re.M)


def nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    for sub in ("logs", "run", "tmp"):
        (prefix / sub).mkdir(exist_ok=True)
    return subprocess.run([NGINX, "-t", "-q", "-p", str(prefix), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=False, timeout=30)


def fpm_test(conf: Path) -> subprocess.CompletedProcess[str]:
    assert PHP_FPM is not None
    return subprocess.run([PHP_FPM, "-t", "-y", str(conf)], capture_output=True, text=True,
                          check=False, timeout=30)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp dir with a short path: the fixtures' unix sockets live under it, and nginx -t
    refuses a socket path longer than sun_path (108 bytes), which pytest's tmp_path can exceed."""
    with tempfile.TemporaryDirectory(prefix="w502-") as tmp:
        yield Path(tmp)


# socket-permissions: the recorded nginx.conf says "user nobody nogroup;" but diagnose proposes
# "listen.group = nobody" (it reads the user directive's user only, lint reads the group too:
# NginxConfig.worker_identity()), and Debian has no group "nobody", so php-fpm -t refuses it.
# the nginx recordings (HAProxy's and Apache's fixes are checked by haproxy -c / apache2 -t in
# tests/haproxy and tests/apache)
NGINX_METAS = [m for m in METAS if "nginx_conf" in m["files"]]


@pytest.mark.parametrize("meta", NGINX_METAS, ids=[m["scenario"] for m in NGINX_METAS])
def test_fix_diffs_apply_with_patch_and_pass_the_real_checker(meta: dict[str, Any],
                                                              short_tmp: Path) -> None:
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    tmp_path = short_tmp
    base = materialize(meta, tmp_path / "report")
    conf = base["dir"] / base["files"]["nginx_conf"]
    diffs = fix_diffs(base)
    nginx_diffs = [d for d in diffs if str(conf) in labels(d)]
    assert bool(nginx_diffs) == (meta["scenario"] in NGINX_FIXES), diffs
    for i, diff in enumerate(diffs):
        # a fresh copy at the same place: the labels are absolute paths
        shutil.rmtree(base["dir"])
        work = materialize(meta, tmp_path / "report")
        assert nginx_test(conf, work["dir"]).returncode == 0, f"the recorded config fails nginx -t ({i})"
        before = {p: Path(p).read_text() for p in labels(diff)}
        assert diff.startswith(f"--- a{labels(diff)[0]}\n"), diff
        res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                             capture_output=True, check=False, timeout=30)
        assert res.returncode == 0, f"patch -p1 failed: {res.stdout}{res.stderr}\n{diff}"
        assert all(Path(p).read_text() != text for p, text in before.items()), diff
        if str(conf) in before:
            checked = nginx_test(conf, work["dir"])
            assert checked.returncode == 0, f"nginx -t refuses the fixed config: {checked.stderr}\n{diff}"
        fpm_files = [p for p in before if p != str(conf)]
        if fpm_files and "fpm_conf" in work["files"]:
            if PHP_FPM is None:
                pytest.skip("php-fpm is not installed")
            checked = fpm_test(work["dir"] / work["files"]["fpm_conf"])
            assert checked.returncode == 0, f"php-fpm -t refuses the fixed pool: {checked.stderr}\n{diff}"


@pytest.mark.real
@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")
@pytest.mark.parametrize("block", [
    "location / { proxy_pass http://app; }",
    "location / { proxy_pass http://app; }  # generated",
    "location / {\n            proxy_pass http://app; }",
])
def test_a_fix_for_a_one_line_block_goes_inside_it(tmp_path: Path, block: str) -> None:
    """``location / { proxy_pass http://x; }``: lint's and diagnose's keep-alive fixes put
    their directives inside the braces (a line after it was outside the location, in the
    server, where ``nginx -t`` takes it for every location or refuses it)."""
    from why502.app.diagnose import DiagnoseOptions, diagnose
    from why502.app.lint import LintOptions, gather

    conf = tmp_path / "nginx.conf"
    text = ("events { }\nhttp {\n    upstream app { server 127.0.0.1:8000; keepalive 16; }\n    server {\n"
            f"        listen 127.0.0.1:8080;\n        {block}\n"
            "        location /b { return 204; }\n    }\n}\n")
    conf.write_text(text)
    linted = gather(LintOptions(config=str(conf), host=False, rules=["W502-001"]))
    lint_diffs = [f.diff for f in linted.findings if f.diff]
    err = tmp_path / "error.log"
    err.write_text("")
    report = diagnose(DiagnoseOptions(default_proxy_config=str(conf), error_logs=[str(err)], offline=True))
    diag_diffs = [f.fix.diff for f in report.findings
                  if f.cause == "keepalive-misconfigured" and f.fix is not None and f.fix.diff]
    assert lint_diffs and diag_diffs
    for diff in (*lint_diffs, *diag_diffs):
        conf.write_text(text)
        subprocess.run(["patch", "-p1", "-s", "-d", "/"], input=diff, text=True, check=True, timeout=30)
        fixed = conf.read_text()
        loc = fixed[fixed.index("location / {"):]
        inside = loc[: loc.index("}")]
        assert "proxy_http_version 1.1;" in inside, fixed
        assert nginx_test(conf, tmp_path).returncode == 0, nginx_test(conf, tmp_path).stderr
