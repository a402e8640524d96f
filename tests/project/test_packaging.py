"""The distributions as a user gets them: the wheel installed into a fresh venv runs
`why502 diagnose --demo`; the wheel and the sdist carry what they must.

Marked ``real``: it builds with pip (setuptools is fetched from the package index into pip's
isolated build environment) and installs the runtime dependencies into a new venv.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import why502
from tests.support.paths import ROOT_DIR

ROOT = ROOT_DIR
# every test here builds from the source tree (setuptools writes ./build): the suite's
# `--dist loadfile` keeps them on one worker, one after the other
pytestmark = pytest.mark.real


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the venv with the wheel installed, the wheel)."""
    base = tmp_path_factory.mktemp("pkg")
    res = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
               "-w", str(base / "dist"), str(ROOT)])
    assert res.returncode == 0, res.stderr
    (wheel,) = (base / "dist").glob("why502-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    res = run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               str(wheel)])
    assert res.returncode == 0, res.stderr
    return env_dir, wheel


def test_wheel_carries_the_data_and_the_metadata(built: tuple[Path, Path]) -> None:
    _, wheel = built
    assert wheel.name.startswith(f"why502-{why502.__version__}-")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        dist_info = f"why502-{why502.__version__}.dist-info"
        metadata = whl.read(f"{dist_info}/METADATA").decode()
    for native in ("proxies/nginx/_scan", "parsers/lblogs/_albscan", "parsers/lblogs/_jsonscan",
                   "proxies/haproxy/_hapscan", "proxies/envoy/_envoyscan", "proxies/apache/_apachescan",
                   "proxies/traefik/_traefikscan", "sources/_lines", "sources/_unframe",
                   "parsers/_needles"):
        assert any(n.startswith(f"why502/{native}.") and n.endswith(".so") for n in names), native
    for required in ("why502/py.typed", "why502/schemas/report.schema.json", "why502/proxies/nginx/_scan.pyi",
                     "why502/reporters/assets/uPlot.LICENSE", "why502/app/watch/mixin.py"):
        assert required in names, required
    catalog = {p.name for p in (ROOT / "src" / "why502" / "catalog" / "data").glob("*.toml")}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("why502/catalog/data/")} == catalog
    demo = {p.name for p in (ROOT / "src" / "why502" / "demo").iterdir() if p.is_file()}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("why502/demo/")} == demo
    assert not any(n.startswith(("tests/", "docs/", "bench/")) for n in names)
    assert f"{dist_info}/licenses/LICENSE" in names
    meta = email.parser.Parser().parsestr(metadata)
    assert meta["Version"] == why502.__version__
    assert meta["License-Expression"] == "MIT"
    assert f"Homepage, {why502.PROJECT_URL}" in meta.get_all("Project-URL")
    requires = " ".join(meta.get_all("Requires-Dist"))
    assert "psutil" not in requires
    assert "prometheus_client" in requires  # why502 watch serves /metrics with it


def test_installed_wheel_runs_the_demo(built: tuple[Path, Path], tmp_path: Path) -> None:
    env_dir, _ = built
    exe = env_dir / "bin" / "why502"
    # outside the source tree, with nothing of the checkout on the path
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    res = run([str(exe), "diagnose", "--demo", "--format", "json"], cwd=tmp_path, env=env)
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    manifest = json.loads((ROOT / "src" / "why502" / "demo" / "manifest.json").read_text())
    assert report["findings"][0]["cause"] == manifest["expected"]["cause"]
    res = run([str(exe), "--version"], cwd=tmp_path, env=env)
    # built on a machine with a C compiler (as the suite's): the wheel carries the native scanner
    # and the edge logs' passes (their shared header, src/why502/native/arrow_buf.h, packaged)
    assert res.stdout.splitlines() == [f"why502 {why502.__version__}", "native nginx scanner: on",
                                       "native edge-log passes: ALB, JSON and HAProxy on"]
    res = run([str(exe), "completion", "bash"], cwd=tmp_path, env=env)
    assert res.returncode == 0 and "why502" in res.stdout
    where = run([str(env_dir / "bin" / "python"), "-c", "import why502; print(why502.__file__)"],
                cwd=tmp_path, env=env)
    assert str(env_dir) in where.stdout, "the venv imported the checkout, not the wheel"


def test_sdist_carries_tests_fixtures_docs_and_scripts(built: tuple[Path, Path], tmp_path: Path) -> None:
    env_dir, _ = built
    py = str(env_dir / "bin" / "python")
    res = run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "setuptools>=77"])
    assert res.returncode == 0, res.stderr
    out = tmp_path / "sdist"
    code = ("import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))")
    res = run([py, "-c", code, str(out)], cwd=ROOT, env={**os.environ, "PYTHONPATH": ""})
    assert res.returncode == 0, res.stderr
    (sdist,) = out.glob("why502-*.tar.gz")
    prefix = f"why502-{why502.__version__}/"
    with tarfile.open(sdist) as tar:
        names = {n.removeprefix(prefix) for n in tar.getnames()}
    for required in ("LICENSE", "README.md", "CONTRIBUTING.md", "CHANGELOG.md", "BENCHMARKS.md",
                     "MANIFEST.in", "pyproject.toml", "scripts/test", ".ci/run", "bench/stats_bench.py",
                     "docs/architecture.md", "docs/reference/proxy-messages.md", "docs/causes/README.md",
                     "docs/limits.md", "docs/guide/README.md", "docs/guide/diagnose.md",
                     "docs/proxies/README.md", "docs/dev/performance-history.md",
                     "tests/fixtures/schemas/sarif-2.1.0.json",
                     "tests/fixtures/corpus/nginx-configs/README.md", "src/why502/py.typed",
                     "contrib/systemd/why502-watch.service", "setup.py", "src/why502/proxies/nginx/_scan.c"):
        assert required in names, required
    assert any(n.startswith("tests/fixtures/recorded/") for n in names)
    assert any(n.startswith("tests/fixtures/corpus/LICENSES/") for n in names)
    assert not any("__pycache__" in n or n.startswith(("bench/out/", ".venv/")) for n in names)
