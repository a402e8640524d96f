"""``watch``'s count of Apache httpd's error lines, the memo's part alone, on one core, next to
``LC_ALL=C grep -c proxy:error`` on the same file.

``watch`` hands each block of a followed error log that starts as httpd's lines do to
``ApacheMemo.failures_of_block`` (``app/watch/errorscan.py``), and the lines it hands back to
``ApacheMemo.failures``, line by line.  This script does the same on a file's 1 MiB blocks and
prints the failures counted, the lines handed back and the CPU seconds: the part of the agent
that depends on how the lines' keys repeat (a threaded MPM's pid and tid pairs, a message seen
once), which ``bench/watch_bench.py``'s single-process Apache shape does not show.  Run it on
another tree's source for a before/after pair (``PYTHONPATH=/tmp/trees/why502-REF/src``; the
tree as ``bench/against_tree.py`` unpacks and builds it):

    python bench/classify_bench.py --lines 1000000 --sizes 1 --shapes apache apache-outage --keep /tmp/cb
    taskset -c 0 python bench/apache_counter.py /tmp/cb/error-apache-1000000.log \
        /tmp/cb/error-apache-outage-1000000.log
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from why502.proxies.apache.error_memo import ApacheMemo

BLOCK = 1 << 20


def count(path: str) -> tuple[int, int, float]:
    """(failures counted, lines handed back to the per-line path, CPU seconds) of ``path``."""
    memo = ApacheMemo()
    failures = back_lines = 0
    t0 = time.process_time()
    with open(path, "rb") as f:
        rest = b""
        while chunk := f.read(BLOCK):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            block, rest = data[:cut], data[cut:]
            out, back = memo.failures_of_block(block)
            if back:
                lines = back.decode("utf-8", "replace").splitlines()
                back_lines += len(lines)
                out.update(memo.failures(lines))
            failures += sum(out.values())
    return failures, back_lines, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    print("| log | failures | lines handed back | CPU s | `grep -c proxy:error` s |")
    print("|---|---|---|---|---|")
    for path in args.logs:
        failures, back, cpu = count(path)
        t0 = time.perf_counter()
        subprocess.run(["grep", "-c", "proxy:error", path], env={**os.environ, "LC_ALL": "C"},
                       capture_output=True, check=False)
        grep = time.perf_counter() - t0
        print(f"| {os.path.basename(path)} | {failures:,} | {back:,} | {cpu:.2f} | {grep:.2f} |")


if __name__ == "__main__":
    main()
