"""Time ``LocationModel.label_expr`` (``proxies.nginx.config.locations``), the location label ``why502
stats`` gives every proxied request for its by-location breakdown and per-location timings.

The rows are the request lines and hosts of a generated access log (``bench/out/stats/access.log``
from ``bench/gen_access_log.py``), labelled with three configs to show how the cost grows: the
log's own ``nginx.conf``; a config with nested locations, wildcard and regex server names and two
regexes that only PCRE can run (a look-ahead, a back-reference: matched in Python); and 50
virtual hosts with 9 locations each.  Each runs ``--repeat`` times (default 3); the best wall
time is printed.

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
from pathlib import Path

import polars as pl

from why502.proxies.nginx.config import parse_nginx
from why502.proxies.nginx.config.locations import LocationModel

ROOT = Path(__file__).resolve().parent.parent

NESTED = r"""
server {
    listen 80; server_name shop.test www.shop.test;
    location / { }
    location = / { }
    location /docs/ {
        location /docs/deep/ { }
        location ~ \.txt$ { }
        location ^~ /docs/stop/ { }
    }
    location ^~ /static/ { location ~ \.css$ { } }
    location ~ \.(php|txt)$ { }
    location ~* \.JPG$ { }
    location ~ ^/api/(?!internal) { }
    location ~ ^/(\w+)/\1$ { }
    location /api/ { }
    location ~ ^/re(?<n>[0-9]+)$ { location ~ 7$ { } }
}
server { listen 80; server_name *.wild.test; location / { } location ~ ^/w { } }
server { listen 80; server_name .dot.test; location / { } }
server { listen 80; server_name www.tail.*; location / { } }
server { listen 80; server_name "~^(?<sub>[a-z]+)\.rx\.test$"; location / { } location ~ stop { } }
server { listen 80 default_server; server_name _; location / { } location /api/ { } }
"""
NESTED_HOSTS = [
    "shop.test",
    "www.shop.test",
    "a.wild.test",
    "x.y.wild.test",
    "dot.test",
    "a.dot.test",
    "www.tail.com",
    "abc.rx.test",
    "unknown.test",
    "SHOP.test",
]
VHOSTS = "".join(
    f"server {{ listen 80; server_name s{i}.example.com; location / {{ }} location /api/ {{ }} "
    "location /static/ { } location ^~ /img/ { } location = /health { } location /api/v1/ { } "
    "location /api/v2/ { location ~ /items/ { } } location ~ \\.php$ { } location ~* \\.png$ { } }\n"
    for i in range(50)
)


def load_rows(log: Path, rows: int) -> pl.DataFrame:
    with log.open("rb") as f:
        data = b"".join(itertools.islice(f, rows))
    lines = pl.Series("line", data.decode("utf-8", "replace").splitlines())
    return pl.DataFrame(lines).select(
        pl.col("line").str.extract(r'"([^"]*)" \d{3} ').alias("request"),
        pl.col("line").str.extract(r'" "([^"]*)" rt=').alias("host"),
    )


def run(conf: Path, df: pl.DataFrame, name: str, repeat: int) -> None:
    model = LocationModel.from_config(parse_nginx(str(conf)))
    expr = model.label_expr(pl.col("request"), pl.col("host")).alias("loc")
    best = float("inf")
    out = pl.DataFrame()
    for _ in range(repeat):
        t = time.perf_counter()
        out = df.select(expr)
        best = min(best, time.perf_counter() - t)
    n = df.height
    locations = sum(r.kind != "server" for r in model.rules)
    print(f"{name}: {locations} locations, {n:,} rows, {out['loc'].n_unique()} labels")
    print(f"  label_expr: {best:7.3f} s  ({n / best / 1e6:5.1f} M rows/s)")
    for note in model.notes():
        print(f"  note: {note}")


def with_hosts(df: pl.DataFrame, hosts: list[str]) -> pl.DataFrame:
    """``df`` with its hosts replaced by ``hosts``, spread over the rows."""
    return df.with_columns(
        pl.Series("host", hosts).gather(pl.int_range(0, df.height, eager=True) % len(hosts))
    )


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
    run(args.conf, df, f"the log's config {args.conf}", args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "nginx.conf"
        p.write_text("events {}\nhttp {\n" + NESTED + "}\n")
        run(p, with_hosts(df, NESTED_HOSTS), "nested locations, PCRE-only regexes", args.repeat)
        p.write_text("events {}\nhttp {\n" + VHOSTS + "}\n")
        hosts = [f"s{i}.example.com" for i in range(50)]
        run(p, with_hosts(df, hosts), "50 virtual hosts x 9 locations", args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
