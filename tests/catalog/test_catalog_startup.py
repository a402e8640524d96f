"""`why502 --help` and `why502 explain` must not import the heavy parts (no timing here:
speed figures come from bench/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import contextlib, io, json, sys
from why502.cli.main import main
paths = {}
def heavy():
    names = ("polars", "crossplane", "rich", "shtab", "argparse_manpage")
    return sorted(m for m in names if m in sys.modules)
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
    paths["--help"] = heavy()
    main(["explain", "backend-not-running"]); paths["explain ID"] = heavy()
    main(["explain", "502"]); paths["explain 502"] = heavy()
    main(["causes"]); paths["causes"] = heavy()
    main(["explain", sys.argv[1]]); paths["explain line"] = heavy()
print(json.dumps(paths))
"""
LINE = ("2024/05/01 12:00:02 [crit] 2107#2107: *1850 connect() to unix:/run/php/php8.2-fpm.sock failed "
        "(2: No such file or directory) while connecting to upstream, client: 203.0.113.9, server: x, "
        'request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "x"')


def test_help_and_explain_do_not_import_heavy_modules() -> None:
    res = subprocess.run([sys.executable, "-c", PROBE, LINE], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    paths = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(paths) == {"--help", "explain ID", "explain 502", "causes", "explain line"}
    for path, loaded in paths.items():
        assert "polars" not in loaded, path
        assert "crossplane" not in loaded, path
        assert "rich" not in loaded, path
        assert "shtab" not in loaded and "argparse_manpage" not in loaded, path
