"""Reading a PHP-FPM pool's access log: lines per second, and the lines kept.

Writes ``--lines`` lines in FPM's default ``access.format`` (the four real lines of
tests/fixtures/fpm-access/default.access.log, repeated, one stamp per ``--per-second`` lines)
to a temp file and reads it as diagnose does (``app.diagnose.fpm_access.read_fpm_access``).

    .venv/bin/python bench/fpm_access.py --lines 500000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from why502.app.diagnose.fpm_access import read_fpm_access
from why502.facts.fpm import FpmPool

_REQUESTS = ('"GET /ok.php" 200', '"GET /app.php" 502', '"GET /app.php" 502', '"GET /ok.php" 200')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--per-second", type=int, default=50, help="lines sharing one %%t stamp")
    args = ap.parse_args()
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "www.access.log"
        with path.open("w") as f:
            for i in range(args.lines):
                stamp = (start + timedelta(seconds=i // args.per_second)).strftime("%d/%b/%Y:%H:%M:%S %z")
                f.write(f"127.0.0.1 -  {stamp} {_REQUESTS[i % 4]}\n")
        pool = FpmPool(name="www", listen="/run/php/www.sock", access_log=str(path))
        t0 = time.perf_counter()
        logs, _taken = read_fpm_access([pool], [], None, [])
        took = time.perf_counter() - t0
    got = logs[0]
    print(f"{args.lines} lines in {took:.2f} s ({args.lines / took:,.0f} lines/s); "
          f"{len(got.requests)} kept, {got.unparsed} unparsed")


if __name__ == "__main__":
    main()
