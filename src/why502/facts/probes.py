"""What a live probe of one upstream target found (``why502.sources.probes.probe``).

The probe itself (sockets, TLS, timeouts) is in ``why502.sources.probes``; these are its results,
kept whole so the analyzers see every connect attempt and TLS handshake, plus the one-word
states the analyzers compare (``connect_state``, ``answer``, ...), named in the terms nginx logs:
errno symptoms (``connection-refused``), ``wrong version number``, "not HTTP".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from why502.findings.targets import DEFAULT_PORTS as DEFAULT_PORTS
from why502.findings.targets import ProbeTarget as ProbeTarget  # what a probe takes (a fix plan carries it)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")



@dataclass(frozen=True)
class DnsResult:
    """What ``getaddrinfo()`` returned for the target's host name."""

    name: str
    addresses: list[str] = field(default_factory=list)
    error: str | None = None  # "Name or service not known", "timed out after 2.0s"
    literal: bool = False  # the host was an IP address: no lookup was made
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class ConnectAttempt:
    """One ``connect()``: to an IP address or a unix socket."""

    address: str  # "127.0.0.1:8080", "[::1]:8080", "unix:/run/php/x.sock"
    ok: bool
    errno: int | None = None
    errno_name: str | None = None  # "ECONNREFUSED"
    error: str | None = None  # "Connection refused" (glibc text, as nginx prints it)
    symptom: str | None = None  # causes.md symptom ID this failure produces in nginx
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class ProtocolResult:
    """What the target answered to the protocol probe."""

    sent: str  # "http", "fastcgi", "http2", "none"
    answer: str  # "http", "fastcgi", "http2", "tls", "empty", "reset", "timeout", "unknown", "skipped"
    status: int | None = None  # HTTP status when answer == "http"
    status_line: str | None = None
    first_bytes: str | None = None  # repr of the first bytes when the answer is not what we sent
    values: dict[str, str] = field(default_factory=dict)  # FastCGI GET_VALUES result
    detail: str = ""
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class TlsAttempt:
    """One TLS handshake: ``mode`` is ``no-sni`` (nginx default), ``sni`` or ``verify``."""

    mode: str
    server_name: str | None
    ok: bool
    version: str | None = None
    cipher: str | None = None
    error: str | None = None  # "wrong version number", "tlsv1 unrecognized name", ...
    verify_code: int | None = None
    verify_error: str | None = None  # "self-signed certificate" (OpenSSL text, as nginx logs it)
    subject: str | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe found, and a one-line human summary in ``detail``."""

    target: ProbeTarget
    dns: DnsResult | None = None
    connect: list[ConnectAttempt] = field(default_factory=list)
    protocol: ProtocolResult | None = None
    tls: list[TlsAttempt] = field(default_factory=list)
    ok: bool = False
    error: str | None = None  # short reason when not ok: "connection refused", "not HTTP: TLS alert"
    errno: int | None = None
    elapsed_ms: float = 0.0
    detail: str = ""
    symptom: str | None = None  # causes.md symptom/cause hint: "connection-refused", "protocol-mismatch"

    # -- one-word states the analyzers compare --------------------------------------------

    @property
    def dns_state(self) -> str | None:
        """``ok`` | ``failed``; ``None`` when no name was looked up (an IP or a unix socket)."""
        if self.dns is None or self.dns.literal:
            return None
        return "ok" if self.dns.addresses else "failed"

    @property
    def connect_state(self) -> str | None:
        """``ok`` when an address took the connection, else the first failure's symptom
        (``connection-refused``, ``socket-not-found``, ``backlog-full``, ...); ``None`` when no
        connect was tried."""
        if not self.connect:
            return None
        if any(c.ok for c in self.connect):
            return "ok"
        first = self.connect[0]
        return first.symptom or first.error or "failed"

    @property
    def answer(self) -> str | None:
        """What the target answered (``ProtocolResult.answer``): ``http``, ``fastcgi``, ``tls``."""
        return self.protocol.answer if self.protocol is not None else None

    @property
    def tls_state(self) -> str | None:
        """The first (nginx-like, no SNI) handshake: ``ok`` or its error."""
        if not self.tls:
            return None
        return self.tls[0].error or ("ok" if self.tls[0].ok else None)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses the host name resolved to (an IP target: itself)."""
        return tuple(self.dns.addresses) if self.dns is not None else ()

    @property
    def header_bytes(self) -> int | None:
        """Size of the response header the HTTP probe received (``values["header_bytes"]``)."""
        if self.protocol is None:
            return None
        value = self.protocol.values.get("header_bytes")
        return int(value) if value and str(value).isdigit() else None

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (``UpstreamSummary.probes`` stores these)."""
        data = asdict(self)
        data["target"]["label"] = self.target.label
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        """The inverse of ``to_dict`` (a recorded probe); unknown keys are ignored."""
        dns = data.get("dns")
        proto = data.get("protocol")
        return cls(
            target=_build(ProbeTarget, data.get("target") or {}),
            dns=_build(DnsResult, dns) if dns else None,
            connect=[_build(ConnectAttempt, c) for c in data.get("connect") or []],
            protocol=_build(ProtocolResult, proto) if proto else None,
            tls=[_build(TlsAttempt, t) for t in data.get("tls") or []],
            ok=bool(data.get("ok")), error=data.get("error"), errno=data.get("errno"),
            elapsed_ms=float(data.get("elapsed_ms") or 0.0), detail=str(data.get("detail") or ""),
            symptom=data.get("symptom"))


def _build(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
