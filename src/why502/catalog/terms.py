"""The vocabulary of cloud load balancers and modern proxies (``data/proxy_terms.toml``).

Each proxy already says in its access log *who* failed and *why*, in its own words: an Envoy
response flag (``UF``), an ALB condition (``target_status_code`` ``-``) or ``error_reason``, a
Cloudflare 52x, a Caddy or Traefik error.  This table maps every such word onto the one cause
model: the RFC 9209 Proxy-Status error type, a symptom ID, the root cause it points to first and
the fix in that platform's terms, with the documentation URL.  Parsers look terms up by
``(family, code)``; ``why502 explain UF`` finds them by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from why502.catalog import tomldata

# RFC 9209 section 2.3: the registered Proxy-Status error types.
PROXY_STATUS_TYPES: frozenset[str] = frozenset({
    "dns_timeout", "dns_error", "destination_not_found", "destination_unavailable",
    "destination_ip_prohibited", "destination_ip_unroutable", "connection_refused",
    "connection_terminated", "connection_timeout", "connection_read_timeout",
    "connection_write_timeout", "connection_limit_reached", "tls_protocol_error",
    "tls_certificate_error", "tls_alert_received", "http_request_error", "http_request_denied",
    "http_response_incomplete", "http_response_header_section_size", "http_response_header_size",
    "http_response_body_size", "http_response_trailer_section_size", "http_response_trailer_size",
    "http_response_transfer_coding", "http_response_content_coding", "http_response_timeout",
    "http_upgrade_failed", "http_protocol_error", "proxy_internal_response", "proxy_internal_error",
    "proxy_configuration_error", "proxy_loop_detected", "http_response_content_length",
})


@dataclass(frozen=True)
class Term:
    """One word of one proxy's vocabulary and where it sits in the cause model."""

    family: str
    code: str
    kind: str
    title: str
    meaning: str
    status: tuple[int, ...]
    made_by: str
    proxy_status: str
    symptom: str
    cause: str
    fix: str
    url: str
    aliases: tuple[str, ...] = ()
    provenance: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "family": self.family, "code": self.code, "kind": self.kind, "title": self.title,
            "meaning": self.meaning, "status": list(self.status), "made_by": self.made_by,
            "proxy_status": self.proxy_status or None, "symptom": self.symptom or None,
            "cause": self.cause or None, "fix": self.fix, "url": self.url,
            "provenance": self.provenance or None,
        }


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return tomldata.table(resources.files("why502.catalog").joinpath("data", "proxy_terms.toml"))


def go_error_family() -> str:
    """The family whose terms describe Go's ``net/http`` error texts (Caddy's; Traefik's error
    lines carry the same texts), as the data says (``go_error_family``): this layer is below the
    proxy registry and names no proxy (issue 23)."""
    return str(_data()["go_error_family"])


def go_error_readers() -> frozenset[str]:
    """The families whose error lines carry Go's texts and whose own terms name the fix, as the
    data says (``go_error_readers``): told in their own term for a cause first, else in
    :func:`go_error_family`'s term for the Go text."""
    return frozenset(str(f) for f in _data().get("go_error_readers", []))


@lru_cache(maxsize=1)
def load_terms() -> tuple[Term, ...]:
    """Every term, in file order (its families: the log families of ``why502.proxies.logfamilies``)."""
    out: list[Term] = []
    for raw in _data()["term"]:
        out.append(Term(
            family=str(raw["family"]), code=str(raw["code"]), kind=str(raw["kind"]),
            title=str(raw["title"]), meaning=str(raw["meaning"]),
            status=tuple(int(s) for s in raw.get("status", [])), made_by=str(raw["made_by"]),
            proxy_status=str(raw.get("proxy_status", "")), symptom=str(raw.get("symptom", "")),
            cause=str(raw.get("cause", "")), fix=str(raw["fix"]), url=str(raw["url"]),
            aliases=tuple(str(a) for a in raw.get("aliases", [])),
            provenance=str(raw.get("provenance", "")),
        ))
    return tuple(out)


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], Term]:
    return {(t.family, t.code): t for t in load_terms()}


def term(family: str, code: str) -> Term | None:
    """The term ``code`` of ``family`` (exact code), or None."""
    return _index().get((family, code))


def find_terms(code: str) -> list[Term]:
    """Terms named ``code`` in any family: exact first (Envoy flags are case-sensitive: ``UF``),
    then case-insensitive on codes and aliases (``targetconnectionerrorcount``)."""
    text = code.strip()
    exact = [t for t in load_terms() if t.code == text or text in t.aliases]
    if exact:
        return exact
    low = text.lower()
    return [t for t in load_terms() if t.code.lower() == low or low in (a.lower() for a in t.aliases)
            or (t.kind in ("metric", "error_reason") and t.code.lower().removesuffix("count") == low)]
