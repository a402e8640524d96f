"""The HAProxy and Apache httpd rules' fixtures against the real programs: every ``fire``
fixture, once its finding's diff is applied, passes the proxy's own config test (``haproxy -c
-f``, ``apache2 -t -f``), so a fix why502 proposes never breaks a reload; ``haproxy -c``'s own
"missing timeouts" warning goes away with the W502-025 fix.

Apache fixtures are fragments (a virtual host, a balancer): the test includes them from a main
config that loads the proxy modules, as Debian's ``apache2.conf`` includes ``sites-enabled/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.lint.test_lint_rules import fixture_input, fixtures
from why502.analyzers.lint import load_rules, run_lint
from why502.app.fix.plan import apply_diff
from why502.proxies.apache.lab import MODULE_DIRS, MODULES, find_apache
from why502.proxies.haproxy.lab import find_haproxy

pytestmark = pytest.mark.real


def _of(proxy: str) -> list[tuple[str, Path]]:
    """The fixtures of ``proxy``, but those in HAProxy 1.x syntax (``*-1x.cfg``: ``srvtimeout``,
    a bare ``redispatch``), which the installed HAProxy 2.x refuses by design."""
    rules = load_rules()
    return [(c, p) for c, p in fixtures("fire") + fixtures("silent")
            if rules[c].proxy == proxy and not p.stem.endswith("-1x")]


def _fixed(code: str, path: Path, tmp_path: Path) -> Path:
    """A copy of the fixture with every diff of its ``code`` findings applied (one at a time,
    linting again after each, as line numbers move)."""
    work = tmp_path / "conf"
    shutil.copytree(path.parent, work)
    target = work / path.name
    for _ in range(10):
        found = [f for f in run_lint(fixture_input(target), {code}) if f.code == code and f.diff]
        if not found:
            break
        f = found[0]
        assert f.file and f.diff
        Path(f.file).write_text(apply_diff(Path(f.file).read_text(), f.diff, f.file))
    return target


def haproxy_check(fixture: Path, _tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``haproxy -c -f`` on a whole haproxy.cfg."""
    binary = find_haproxy()
    if binary is None:
        pytest.skip("haproxy is not installed")
    return subprocess.run([binary, "-c", "-f", str(fixture)], capture_output=True, text=True, timeout=30,
                          check=False)


def apache_check(fragment: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``apache2 -t -f`` on a main config that loads the proxy modules and includes ``fragment``."""
    binary = find_apache()
    mods = next((d for d in MODULE_DIRS if os.path.isdir(d)), None)
    if binary is None or mods is None:
        pytest.skip("apache2 (or its module directory) is not installed")
    root = tmp_path / "apache-root"
    (root / "run").mkdir(parents=True, exist_ok=True)
    main = root / "apache2.conf"
    main.write_text(
        f"ServerRoot {root}\nServerName localhost\nListen 127.0.0.1:8080\n"
        f"PidFile {root}/run/apache2.pid\nDefaultRuntimeDir {root}/run\nErrorLog {root}/error.log\n"
        # mod_rewrite too: members reached by RewriteRule [P] (W502-031 fire-declared-every-way)
        + "".join(f"LoadModule {m}_module {mods}/mod_{m}.so\n" for m in (*MODULES, "rewrite"))
        + f"Include {fragment}\n")
    return subprocess.run([binary, "-t", "-f", str(main)], capture_output=True, text=True, timeout=30,
                          check=False)


CHECKERS = {"haproxy": haproxy_check, "apache": apache_check}


@pytest.mark.parametrize(("code", "path"), _of("haproxy") + _of("apache"),
                         ids=lambda v: getattr(v, "name", v))
def test_proxy_accepts_fixture_and_fix(code: str, path: Path, tmp_path: Path) -> None:
    check = CHECKERS[load_rules()[code].proxy]
    before = check(path, tmp_path)
    assert before.returncode == 0, before.stderr
    fixed = _fixed(code, path, tmp_path)
    after = check(fixed, tmp_path)
    assert after.returncode == 0, f"the proxy's config test rejects the fixed {path.name}:\n{after.stderr}"
    assert not [f for f in run_lint(fixture_input(fixed), {code}) if f.code == code and f.diff]
    if code == "W502-025" and path.name.startswith("fire"):
        assert "missing timeouts" in before.stderr + before.stdout
        assert "missing timeouts" not in after.stderr + after.stdout
