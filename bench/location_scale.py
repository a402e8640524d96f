"""One server with many locations: the polars expression against the hash-table index.

``proxies.nginx.config.locations`` names each request's location with a polars expression whose
``when/then`` chain has a link per location, or -- for a server with more than
``INDEXED_LOCATIONS`` locations -- with ``_IndexedServer`` (hash lookups per unique URI, the
server's regexes as polars columns).  This times both on the same 100,000 unique URIs for
servers of growing size (every ``--regex-every``-th location also gets a regex sibling) and
checks they give the same ids.

    .venv/bin/python bench/location_scale.py --sizes 64,256,1024 --regex-every 8
    .venv/bin/python bench/location_scale.py --sizes 256,4096 --regex-every 0   # prefixes only
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import polars as pl

from why502.proxies.nginx.config import locations, parse_nginx
from why502.proxies.nginx.config.match import rules_from_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,256,1024", help="locations per server, comma-separated")
    ap.add_argument("--regex-every", type=int, default=8, help="a regex beside every N-th prefix (0: none)")
    ap.add_argument("--uris", type=int, default=100_000)
    args = ap.parse_args()
    rng = random.Random(1)
    print("| locations | regexes | expression (s) | index (s) | same ids |\n|---|---|---|---|---|")
    for n in (int(x) for x in args.sizes.split(",")):
        lines = []
        for i in range(n):
            lines.append(f"  location /p{i}/ {{}}\n")
            if args.regex_every and i % args.regex_every == 0:
                lines.append(f"  location ~ \\.x{i}$ {{}}\n")
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "nginx.conf"
            conf.write_text("events {}\nhttp {\n server {\n  listen 80;\n" + "".join(lines) + " }\n}\n")
            rules = rules_from_config(parse_nginx(str(conf)))
        uris = [f"/p{rng.randrange(n * 2)}/{i}" + (".x8" if i % 5 == 0 else "") for i in range(args.uris)]
        frame = pl.DataFrame({"u": uris, "h": ["x"] * len(uris)})
        timed: dict[str, tuple[float, pl.Series]] = {}
        for name, threshold in (("expression", 10**9), ("index", 0)):
            locations.INDEXED_LOCATIONS = threshold
            start = time.perf_counter()
            ids = frame.select(locations.location_id_expr(rules, pl.col("u"), pl.col("h"))).to_series()
            timed[name] = (time.perf_counter() - start, ids)
        regexes = sum(1 for r in rules if r.is_regex)
        same = timed["expression"][1].equals(timed["index"][1])
        expr_s, index_s = timed["expression"][0], timed["index"][0]
        print(f"| {n} | {regexes} | {expr_s:.2f} | {index_s:.2f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
