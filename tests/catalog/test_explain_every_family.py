"""``why502 explain '<a pasted line>'`` on one real line of every family classify reads: each gets
a symptom and a link to its family's ``docs/proxies/`` page (issue 31: a pasted Traefik 502 line
got symptom None; the test covered 3 families).

Every line is real, with its provenance: the ``tests/fixtures/recorded/`` logs were written by
the real nginx, Apache httpd and HAProxy in the lab (their ``meta.json``), the
``tests/fixtures/cloud/recorded/`` ones by the real Envoy, Caddy and Traefik
(``steps.json``), and the ``tests/fixtures/cloud/<family>.jsonl`` lines were published by the
vendor or pasted in a public issue (each with its ``url``).  An access line whose proxy made the
5xx but does not say why (a Traefik or ALB 502) is the catalog's ``proxy-reply``.

Not here: the classic ELB, whose every published line (``elb.jsonl``) is a success or a 5xx the
backend sent -- no real line of a 5xx the ELB made itself was found, and none is made up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = FIXTURES.parents[1]
RECORDED = FIXTURES / "recorded"
CLOUD = FIXTURES / "cloud"


def _line(path: Path, needle: str) -> str:
    return next(line for line in path.read_text().splitlines() if needle in line)


def _published(family: str, status: int) -> tuple[str, str | None]:
    """The first published line of ``family`` whose client got ``status`` from the proxy itself,
    with the symptom it is evidence of (None: the catalog has none more precise)."""
    for raw in (CLOUD / f"{family}.jsonl").read_text().splitlines():
        row = json.loads(raw)
        want = row["expect"]
        if row["family"] == family and want.get("status") == status and want.get("made_by") == "lb":
            assert row["url"].startswith("https://")  # provenance
            return row["line"], want.get("symptom")
    raise AssertionError(f"no published {family} line with a {status} the proxy made")


CASES: dict[str, tuple[str, str | None, str]] = {
    "nginx": (_line(RECORDED / "all-upstreams-down" / "error.log", "connect() failed"),
              "connection-refused", "nginx"),
    "apache": (_line(RECORDED / "apache-backend-down" / "apache-error.log", "Connection refused"),
               "connection-refused", "apache"),
    "haproxy": (_line(RECORDED / "haproxy-backend-down" / "haproxy.log", " SC-- "), None, "haproxy"),
    "envoy": (_line(CLOUD / "recorded" / "envoy" / "envoy-default.log", " 503 UF "), None, "envoy"),
    "istio": (*_published("istio", 503), "envoy"),
    "caddy": (_line(CLOUD / "recorded" / "caddy-2.11.7-pypi" / "caddy-access.log", '"status":502'),
              None, "caddy"),
    "traefik": (_line(CLOUD / "recorded" / "traefik-common" / "traefik-access-common.log", " 502 "),
                "proxy-reply", "traefik"),
    "alb": (*_published("alb", 502), "alb"),
    "cloudflare": (*_published("cloudflare", 521), "cloudflare"),
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_a_pasted_line_of_every_family_gets_a_symptom_and_its_page(family: str) -> None:
    line, symptom, page = CASES[family]
    res = why502("explain", "--format", "json", line)
    assert res.returncode == 0, (family, res.stderr, line)
    doc = json.loads(res.stdout)
    got = doc["line"]
    assert got is not None, (family, line)
    assert got["symptom"], (family, got, line)  # a symptom, never None
    if symptom is not None:
        assert got["symptom"] == symptom, (family, got["symptom"], line)
    assert got["page"] == f"docs/proxies/{page}.md", (family, got["page"])
    assert (ROOT / got["page"]).is_file()
    text = why502("explain", line, "--width", "80").stdout
    assert f"docs/proxies/{page}.md" in text.replace("\n", ""), (family, text[:1500])
