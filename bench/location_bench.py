"""Time ``why502.parsers.nginx.locations.location_expr`` against today's ``access_stats._location_expr``.

Both label the same rows of a generated access log (``bench/out/stats/access.log`` from
``bench/gen_access_log.py``; its ``nginx.conf``) with the location that served them.  The new
expression also normalises the URI (``nginx_uri``), the old one only cuts the query string.
Two more configs show how the cost grows: the one ``tests/test_location_match.py`` runs nginx
with (16 servers on 3 ports, 46 locations, nested ones, a look-ahead and a back-reference
regex), and 50 virtual hosts with 9 locations each.  Each variant runs ``--repeat`` times
(default 3); the best wall time is printed.

    .venv/bin/python bench/location_bench.py                  # 1,000,000 rows
    .venv/bin/python bench/location_bench.py --rows 200000 --log /tmp/locbench/access.log \\
        --conf /tmp/locbench/nginx.conf
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from why502.app.stats import locations_from_config
from why502.evidence.access_stats import _location_expr
from why502.parsers.nginx import NginxConfig, parse_nginx
from why502.parsers.nginx.locations import location_expr, match_notes, rules_from_config
from why502.parsers.nginx.uri import nginx_uri, target_from_request

ROOT = Path(__file__).resolve().parent.parent


def load_rows(log: Path, rows: int) -> pl.DataFrame:
    with log.open("rb") as f:
        data = b"".join(itertools.islice(f, rows))
    lines = pl.Series("line", data.decode("utf-8", "replace").splitlines())
    return pl.DataFrame(lines).select(
        pl.col("line").str.extract(r'"([^"]*)" \d{3} ').alias("request"),
        pl.col("line").str.extract(r'" "([^"]*)" rt=').alias("host"),
    )


def best_of(n: int, fn: Callable[[], pl.DataFrame]) -> tuple[float, pl.DataFrame]:
    best, out = float("inf"), pl.DataFrame()
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(cfg: NginxConfig, df: pl.DataFrame, name: str, repeat: int) -> None:
    old_rules = locations_from_config(cfg)
    rules = rules_from_config(cfg)
    old = _location_expr(old_rules).alias("loc")
    new = location_expr(rules, nginx_uri(target_from_request(pl.col("request"))), pl.col("host")).alias("loc")
    t_old, a = best_of(repeat, lambda: df.select(old))
    t_new, b = best_of(repeat, lambda: df.select(new))
    differ = int((a["loc"] != b["loc"]).sum())
    n = df.height
    print(f"{name}: {len(rules) - sum(r.kind == 'server' for r in rules)} locations, {n:,} rows")
    print(f"  today's _location_expr : {t_old:7.3f} s  ({n / t_old / 1e6:5.1f} M rows/s)")
    print(f"  location_expr          : {t_new:7.3f} s  ({n / t_new / 1e6:5.1f} M rows/s)"
          f"  x{t_new / t_old:.2f}; labels differing from today's: {differ:,}")
    for note in match_notes(rules):
        print(f"  note: {note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--log", type=Path, default=ROOT / "bench/out/stats/access.log")
    ap.add_argument("--conf", type=Path, default=ROOT / "bench/out/stats/nginx.conf")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if not args.log.is_file() or not args.conf.is_file():
        print(f"no {args.log} / {args.conf}: run bench/gen_access_log.py first", file=sys.stderr)
        return 2
    df = load_rows(args.log, args.rows)
    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads")
    run(parse_nginx(str(args.conf)), df, f"bench config {args.conf}", args.repeat)
    sys.path.insert(0, str(ROOT))
    from tests.test_location_match import HOSTS, build_config  # the real-nginx test's config

    text = build_config(9, 8080, 8081, 8082)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "nginx.conf"
        p.write_text("events {}\nhttp {\n" + text + "}\n")
        # the bench log's two hosts are unknown to this config: give the rows its hosts instead
        hosts = pl.Series("host", HOSTS).gather(pl.int_range(0, df.height, eager=True) % len(HOSTS))
        run(parse_nginx(str(p)), df.with_columns(hosts), "test config (tests/test_location_match.py)",
            args.repeat)
        # many virtual hosts: 50 servers x 10 locations, the rows spread over their names
        p.write_text("events {}\nhttp {\n" + "".join(
            f"server {{ listen 80; server_name s{i}.example.com; location / {{ }} location /api/ {{ }} "
            "location /static/ { } location ^~ /img/ { } location = /health { } location /api/v1/ { } "
            "location /api/v2/ { location ~ /items/ { } } location ~ \\.php$ { } location ~* \\.png$ { } }\n"
            for i in range(50)) + "}\n")
        many = pl.Series("host", [f"s{i}.example.com" for i in range(50)])
        hosts = many.gather(pl.int_range(0, df.height, eager=True) % 50)
        run(parse_nginx(str(p)), df.with_columns(hosts), "50 virtual hosts x 9 locations", args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
