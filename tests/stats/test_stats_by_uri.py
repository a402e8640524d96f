"""``by_uri``: the 5xx by URI template, each template worked out once per distinct request and
the requests' sums summed again by template (``breakdown.breakdown_5xx``), equal to each row
templated alone -- on requests that differ by ids, hashes, UUIDs and query strings, several to
a template, and requests that are their own template."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import polars as pl

from tests.conftest import RunMain
from why502.evidence.stats.breakdown import uri_template


def test_by_uri_is_each_row_templated(tmp_path: Path, run_main: RunMain) -> None:
    rng = random.Random(3)
    shapes = ["GET /api/v1/users/{n}", "GET /api/v1/users/{n}?x={m}", "POST /orders/{h}/items",
              "GET /files/{u}.json", "GET /", "GET /static/app.css", "DELETE /api/v1/users/{n}/tokens/{m}"]
    rows = []
    for _ in range(3000):
        shape = rng.choice(shapes)
        path = shape.format(n=rng.randrange(10**6), m=rng.randrange(50), h=f"{rng.getrandbits(64):016x}",
                            u="3f2b6c1e-1d2a-4b3c-9d8e-7f6a5b4c3d2e")
        rows.append((f"{path} HTTP/1.1", rng.choice([200, 502, 503, 504, 500])))
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'10.0.0.{i % 200} - - [21/Nov/2026:10:{i % 60:02d}:00 +0000] "{req}" {st} 12 "-" "curl/8"\n'
        for i, (req, st) in enumerate(rows)))
    code, out, err = run_main("stats", str(log), "--format", "json", "--no-progress", "--top", "50")
    assert code == 1, err
    got = {u["uri"]: (u["5xx"], u["502"], u["503"], u["504"]) for u in json.loads(out)["by_uri"]}
    kept = [(r, s) for r, s in rows if s >= 500]
    five = pl.DataFrame({"request": [r for r, _s in kept], "status": [s for _r, s in kept]})
    templated = five.with_columns(uri_template(pl.col("request")).alias("uri"))
    want: dict[str, tuple[int, int, int, int]] = {}
    for uri, status in templated.select("uri", "status").iter_rows():
        n, a, b, c = want.get(uri, (0, 0, 0, 0))
        want[uri] = (n + 1, a + (status == 502), b + (status == 503), c + (status == 504))
    assert got == want
    assert len(Counter(r for r, _s in rows)) > 1500 and len(want) == len(shapes) - 1  # ?x= folds in
