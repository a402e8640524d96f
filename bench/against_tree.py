r"""Time ``why502`` against an older commit of itself, interleaved, on the same inputs.

Stop 50's correctness work (beb01d9a) made ``classify``'s summary of an nginx error log 1.27x
slower, and nothing noticed for fifteen stops: every later before/after pair compared a change
with its own parent.  This script compares the working tree with any commit (a stop's end, a
release), the way the bisect that found it did (BENCHMARKS.md, Classify, stop 65):

* the commit's tree is unpacked with ``git archive`` into ``--trees`` (kept, reused), its native
  passes built in place (``setup.py build_ext --inplace``; when that fails on PEP 639 licence
  metadata, which this venv's setuptools rejects, the metadata is written the old way and the
  build run again), its modules compiled and the package's caches primed, as ``scripts/test``
  does for the working tree -- without them each start of the old tree compiles ~130 modules,
  ~0.3 s a run that is not the code's (bench/README.md, "Comparing two trees");
* each command runs the old tree (``PYTHONPATH`` = its ``src``) and the installed one in turn,
  ``--rounds`` times, so a drift of the machine's speed falls on both; printed: the medians of
  wall and CPU seconds and of peak RSS, and the median of the per-round CPU ratios.

    python bench/against_tree.py 60d98935 \
        --cmd "classify /tmp/cb/error-outage-2000000.log --format json -o /dev/null"
    python bench/against_tree.py HEAD~20 --rounds 7 \
        --cmd "stats F --format json -o /dev/null --no-progress" --cmd "..."

A ratio above ~1.1 on a quiet machine is worth a bisect.  ``--fail-above R`` exits 1 when a
command's median CPU ratio is above R (2 when the old tree cannot be built), for a script to act
on.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats_bench import run

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = Path(sys.executable)


class BuildError(Exception):
    """The old tree could not be unpacked or built (exit 2)."""


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _py(tree: Path, code: str) -> bool:
    """Run ``code`` with ``tree``'s sources first on the path; whether it succeeded (an old tree
    may lack a cache to prime: that is no error)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([str(VENV_PY), "-c", code], cwd=tree, env=env, capture_output=True).returncode == 0


def _old_licence(pyproject: Path) -> None:
    """``license = "X"`` as ``license = {text = "X"}``, without ``license-files``."""
    lines = []
    for line in pyproject.read_text(encoding="utf-8").splitlines():
        if line.startswith("license-files"):
            continue
        m = re.match(r'license = ("[^"]*")\s*$', line)
        lines.append(f"license = {{text = {m.group(1)}}}" if m else line)
    pyproject.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_tree(ref: str, trees: Path) -> Path:
    """The commit's tree, built and primed once (a marker file says it is done)."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    tree = trees / f"why502-{sha[:12]}"
    if (tree / ".built").exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    build = [str(VENV_PY), "setup.py", "build_ext", "--inplace", "-q"]
    if subprocess.run(build, cwd=tree, capture_output=True).returncode != 0:
        # PEP 639 licence metadata (``license = "MIT"``, ``license-files``), which pip's isolated
        # build reads but an older setuptools in the venv rejects when setup.py runs directly:
        # build_ext needs only setup.py's extensions, so the metadata is written the old way
        _old_licence(tree / "pyproject.toml")
        done = subprocess.run(build, cwd=tree, capture_output=True, text=True)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:]
            raise BuildError(f"cannot build {sha[:12]}: {last}")
    prime(tree)
    (tree / ".built").write_text(sha + "\n")
    return tree


def prime(tree: Path) -> None:
    """``tree``'s modules compiled and the package's caches written, as ``scripts/test`` leaves
    the installed tree -- done for the working tree too before each comparison: a module edited
    since it was last compiled was compiled again at every start of the new side
    (``PYTHONDONTWRITEBYTECODE`` here), ~15 ms a module, against the old side's bytecode."""
    subprocess.run([str(VENV_PY), "-m", "compileall", "-q", "src"], cwd=tree, capture_output=True)
    _py(tree, "from why502.catalog.tomldata import prime; prime()")
    _py(tree, "from why502.classcode import prime; prime()")


def compare(tree: Path, args: list[str], rounds: int) -> dict[str, float]:
    """``rounds`` interleaved runs of the old tree and the installed one; medians."""
    old_env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    new_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [str(VENV_PY), "-m", "why502", *args]
    old: list[tuple[float, float, float]] = []
    new: list[tuple[float, float, float]] = []
    for _ in range(rounds):
        for env, into in ((old_env, old), (new_env, new)):
            wall, rss, status, _out, cpu, err = run(cmd, env=env)
            if status not in (0, 1):
                raise SystemExit(f"against_tree: {shlex.join(args)} exited {status}: {err}")
            into.append((wall, cpu, rss))
    ratios = [n[1] / o[1] for o, n in zip(old, new, strict=True) if o[1] > 0]
    return {
        "old_wall": statistics.median(r[0] for r in old), "old_cpu": statistics.median(r[1] for r in old),
        "old_rss": statistics.median(r[2] for r in old), "new_wall": statistics.median(r[0] for r in new),
        "new_cpu": statistics.median(r[1] for r in new), "new_rss": statistics.median(r[2] for r in new),
        "cpu_ratio": statistics.median(ratios), "cpu_ratio_min": min(ratios), "cpu_ratio_max": max(ratios),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref", help="the commit to compare with (any name git knows)")
    ap.add_argument("--cmd", action="append", required=True,
                    help="why502's arguments, one command (quoted as a shell would split them); repeat")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trees", type=Path, default=Path("/tmp"), help="where old trees are unpacked and kept")
    ap.add_argument("--fail-above", type=float, default=None,
                    help="exit 1 when a command's median CPU ratio (new/old) is above this")
    args = ap.parse_args()
    try:
        tree = build_tree(args.ref, args.trees)
    except (subprocess.CalledProcessError, BuildError) as exc:
        print(f"against_tree: {exc}", file=sys.stderr)
        return 2
    prime(ROOT)
    load = os.getloadavg()[0]
    print(f"old: {args.ref} ({tree.name}); new: the installed tree; {args.rounds} interleaved rounds; "
          f"load {load:.2f} on {os.cpu_count()} CPUs")
    print("| command | old wall / CPU s / MB | new wall / CPU s / MB | new/old CPU (range) |")
    print("|---|---|---|---|")
    worst = 0.0
    for line in args.cmd:
        got = compare(tree, shlex.split(line), max(1, args.rounds))
        worst = max(worst, got["cpu_ratio"])
        print(f"| `{line}` | {got['old_wall']:.2f} / {got['old_cpu']:.2f} / {got['old_rss']:.0f} "
              f"| {got['new_wall']:.2f} / {got['new_cpu']:.2f} / {got['new_rss']:.0f} "
              f"| {got['cpu_ratio']:.2f} ({got['cpu_ratio_min']:.2f}-{got['cpu_ratio_max']:.2f}) |")
    return 1 if args.fail_above is not None and worst > args.fail_above else 0


if __name__ == "__main__":
    sys.exit(main())
