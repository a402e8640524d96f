"""Hostile network answers and a stalled listener, measured: ``why502 fleet`` against a Prometheus
API that trickles bytes, sends a million series, nests arrays 100,000 deep, has wrong types or
NaN; and ``why502 watch``'s ``/metrics`` while clients hold half-sent requests.

Why: every answer why502 reads from the network must be bounded in bytes, depth, series and
*total* time (``why502.sources.netread``), and no client may stall the listener
(``why502.app.watch.httpd``).  The tests check the behaviour (exit codes, one-line errors, a
scrape answered while clients stall); this script records the seconds and peak RSS.

    .venv/bin/python bench/network_bench.py                 # every case
    .venv/bin/python bench/network_bench.py --only series --series 1000000
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from why502.lab.runtime import Stack, free_port

WHY502 = str(Path(sys.executable).with_name("why502"))
LIMIT_S = 120.0


def timed(argv: list[str], limit: float = LIMIT_S) -> tuple[str, float, float, str, str]:
    """(exit code or 'killed', wall seconds, peak RSS MiB, last stderr line, stdout) of ``argv``.
    The peak is the child's own ``VmHWM`` read from ``/proc`` while it runs (so a run killed at
    the limit still has one; ``ru_maxrss`` of a child forked from this process could fold in
    the parent's peak)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        peak_kb = 0
        code = ""
        while not code:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    hwm = next((ln for ln in fh if ln.startswith("VmHWM:")), "")
                peak_kb = max(peak_kb, int(hwm.split()[1])) if hwm else peak_kb
            except (OSError, ValueError, IndexError):
                pass
            if proc.poll() is not None:
                code = str(proc.returncode)
            elif time.monotonic() - start > limit:
                proc.kill()
                proc.wait()
                code = f"killed after {limit:.0f} s"
            else:
                time.sleep(0.05)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        last = (err.read().strip().splitlines() or [""])[-1][:110]
        return code, wall, peak_kb / 1024, last, out.read()


def strict_json(text: str) -> str:
    """Whether ``text`` is JSON a strict parser takes (no NaN/Infinity)."""

    def refuse(name: str) -> None:
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError as err:
        return f"no ({err})" if text.strip() else "-"
    return "yes"


def fleet_cases(args: argparse.Namespace) -> None:
    print("| answer | exit | wall | peak RSS | stdout strict JSON | stderr |\n|---|---|---|---|---|---|")
    with Stack() as stack:
        nan = stack.write_file("nan.json", json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"instance": "web1:9502"}, "value": [1.0, "NaN"]}]}}))
        wrong = stack.write_file("wrong.json", json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": "web1", "value": 3}]}}))
        cases = {
            "trickle": dict(kind="trickle", delay=0.5),
            "series": dict(kind="series", count=args.series),
            "deep": dict(kind="deep", count=100_000),
            "wrong-type": dict(kind="answer", body_file=str(wrong)),
            "nan": dict(kind="answer", body_file=str(nan)),
        }
        for name, kw in cases.items():
            if args.only and name != args.only:
                continue
            kind = str(kw.pop("kind"))
            b = stack.add_backend(kind, **kw)  # type: ignore[arg-type]
            code, wall, rss, last, out = timed([args.why502, "fleet", "--prometheus",
                                                f"http://{b.address}", "--format", "json"])
            print(f"| {name} | {code} | {wall:.2f} s | {rss:.0f} MiB | {strict_json(out)} | `{last}` |",
                  flush=True)
            if b.process is not None:
                stack.stop_process(b.process)


def scrape(port: int, timeout: float) -> float | str:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
            resp.read()
    except OSError as err:
        return f"failed ({err})"
    return time.monotonic() - start


def metrics_case(args: argparse.Namespace) -> None:
    """``args.stallers`` clients each send half a request and wait; then one scrape is timed."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        log.write_text("")
        port = free_port()
        proc = subprocess.Popen([args.why502, "watch", "--access-log", str(log), "--offline",
                                 "--listen", f"127.0.0.1:{port}", "--format", "jsonl"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not isinstance(scrape(port, 2), float):
                if time.monotonic() > deadline:
                    raise SystemExit("watch did not start")
                time.sleep(0.2)
            print("| clients holding half a request | scrape from 127.0.0.1 | note |\n|---|---|---|")
            for n in args.stallers:
                for spread in (False, True):
                    held = []
                    note = ""
                    for k in range(n):
                        src = f"127.0.{1 + k // 250}.{1 + k % 250}" if spread else "127.0.0.2"
                        try:
                            s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                                         source_address=(src, 0))
                            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # half a request
                        except OSError as err:
                            note = f"client {k + 1}'s connect failed ({err}): the backlog is full"
                            break
                        held.append(s)
                    got = scrape(port, 10.0)
                    shown = f"{got:.3f} s" if isinstance(got, float) else got
                    where = f"{n} addresses" if spread else "127.0.0.2"
                    print(f"| {n} from {where} | {shown} | {note} |", flush=True)
                    for s in held:
                        s.close()
                    time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("trickle", "series", "deep", "wrong-type", "nan", "metrics"))
    p.add_argument("--series", type=int, default=1_000_000)
    p.add_argument("--stallers", type=int, nargs="+", default=[1, 8, 100])
    p.add_argument("--why502", default=WHY502, help="the why502 to measure (another checkout's)")
    args = p.parse_args()
    if args.only != "metrics":
        fleet_cases(args)
    if args.only in (None, "metrics"):
        metrics_case(args)


if __name__ == "__main__":
    main()
