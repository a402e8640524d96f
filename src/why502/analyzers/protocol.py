"""Talking to the backend the wrong way: upstream-tls-mismatch, protocol-mismatch.

- ``SSL_do_handshake() failed (SSL: ... wrong version number) while SSL handshaking to upstream``:
  ``proxy_pass https://`` to a plain-HTTP port (``ngx_event_openssl.c`` ``ngx_ssl_handshake()``);
  ``tlsv1 unrecognized name``: the backend needs SNI (``proxy_ssl_server_name on``);
  ``upstream SSL certificate verify error``: ``proxy_ssl_verify on`` with an untrusted certificate.
- ``upstream sent no valid HTTP/1.0 header`` (status 009), ``upstream sent invalid header``,
  ``upstream sent unsupported FastCGI protocol version: 72`` ("H" of "HTTP/"): the pass directive
  speaks HTTP to a FastCGI/uwsgi/TLS port or FastCGI to an HTTP port
  (``ngx_http_proxy_module.c`` ``ngx_http_proxy_process_status_line()``,
  ``ngx_http_fastcgi_module.c`` ``ngx_http_fastcgi_process_record()``).
"""

from __future__ import annotations

from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    group_items,
    groups_of,
    make_finding,
    probe_item,
    proxy_name,
    reload_commands,
    upstream_name,
)
from why502.evidence.model import Evidence, SymptomGroup, TargetFact
from why502.facts.net import split_key
from why502.findings.model import EvidenceItem, Fix
from why502.findings.patch import insert_after, replace_line


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    for peer, groups in by_peer(groups_of(ev, "tls-failure")).items():
        out.append(_tls(ev, peer, groups))
    for peer, groups in by_peer(groups_of(ev, "invalid-response")).items():
        out.append(_protocol(ev, peer, groups))
    # premature closes where the live probe says the port speaks another protocol
    for peer, groups in by_peer(groups_of(ev, "premature-close", "connection-reset")).items():
        probe = ev.probes.get(peer) if ev.probes and peer else None
        target = ev.target(peer)
        if probe and target and _mismatch(target, probe.answer):
            out.append(_protocol(ev, peer, groups))
        elif target and target.kind != "fastcgi" and _fpm_port(ev, peer) and not (
                probe and probe.answer in _PROTOCOLS):
            out.append(_protocol(ev, peer, groups, fpm=True))
    return out


_PROTOCOLS = {"http", "fastcgi", "http2", "tls", "uwsgi"}


def _mismatch(t: TargetFact, protocol: str | None) -> bool:
    if protocol not in _PROTOCOLS:
        return False  # reset / empty / timeout: not a protocol, the backend may just be dying
    spoken = {"proxy": "tls" if t.scheme == "https" else "http", "fastcgi": "fastcgi",
              "uwsgi": "uwsgi", "grpc": "http2"}.get(t.kind)
    return spoken is not None and protocol != spoken and not (spoken == "http2" and protocol == "http")


def _text(groups: list[SymptomGroup]) -> str:
    return " ".join(s.text for g in groups for s in g.samples) + " " + " ".join(
        g.message or "" for g in groups)


def _tls(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    target = ev.target(peer)
    text = _text(groups)
    items = [i for g in groups for i in group_items(g)]
    probe = ev.probes.get(peer) if ev.probes and peer else None
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    diff = None
    anchor_file = target.pass_file or target.file if target else None
    anchor_line = target.pass_line or target.line if target else None
    if "wrong version number" in text or (probe and probe.answer == "http"):
        why = (f"nginx speaks TLS (https://) to {peer}, but the backend answers plain HTTP "
               "(OpenSSL: wrong version number).")
        summary = "use http:// for this backend (or enable TLS on it)"
        if target and target.file and target.line:
            line = ev.files.get(target.file, ())
            if line and 1 <= target.line <= len(line) and "https://" in line[target.line - 1]:
                diff = replace_line(ev.files, target.file, target.line,
                                    [line[target.line - 1].replace("https://", "http://", 1)])
    elif "unrecognized name" in text or "handshake failure" in text:
        why = f"{peer} requires SNI, and nginx does not send it to upstreams by default."
        summary = "send SNI: proxy_ssl_server_name on (and proxy_ssl_name if the name differs)"
        diff = insert_after(ev.files, anchor_file, anchor_line, ["proxy_ssl_server_name on;"])
    elif "verify error" in text or "does not match" in text:
        why = f"The certificate of {peer} fails verification (proxy_ssl_verify on)."
        summary = "install the CA with proxy_ssl_trusted_certificate or fix the backend's certificate"
    else:
        why = f"The TLS handshake with {peer} failed."
        summary = "check TLS versions/ciphers/SNI between nginx and the backend"
    notes = []
    host = split_key(peer or "")[0] or ""
    if "SNI" in why and (host.replace(".", "").isdigit() or ":" in host):
        notes.append(f"{host} is an IP address, and no SNI is sent for an IP: also set "
                     "proxy_ssl_name to the name the backend's certificate is for")
    return Candidate(finding=make_finding(
        "upstream-tls-mismatch", confidence=0.9, groups=groups, explanation=why, evidence=items,
        fix=Fix(summary=summary, commands=[f"openssl s_client -connect {peer} -servername <name> </dev/null",
                                           *reload_commands(ev)],
                diff=diff, file=anchor_file if diff else None, notes=notes),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _fpm_port(ev: Evidence, peer: str | None) -> bool:
    """Is ``peer`` a PHP-FPM pool's listen address (so it speaks FastCGI)?"""
    if not peer:
        return False
    _, port, path = split_key(peer)
    for pool in ev.fpm_pools:
        if pool.key == peer:
            return True
        p_host, p_port, p_path = split_key(pool.key)
        if path is None and p_path is None and p_port == port and p_host in ("0.0.0.0", "::", None):  # noqa: S104
            return True
    return False


def _protocol(ev: Evidence, peer: str | None, groups: list[SymptomGroup], fpm: bool = False
              ) -> Candidate:
    target = ev.target(peer)
    text = _text(groups)
    probe = ev.probes.get(peer) if ev.probes and peer else None
    items = [i for g in groups for i in group_items(g)]
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    speaks = probe.answer if probe and probe.answer in _PROTOCOLS else None
    if speaks is None and fpm:
        speaks = "fastcgi"
        pool = next(p for p in ev.fpm_pools if _fpm_port(ev, p.key) and (
            p.key == peer or split_key(p.key)[1] == split_key(peer or "")[1]))
        items.append(EvidenceItem(kind="config", summary=f"PHP-FPM pool [{pool.name}] listens on "
                                  f"{pool.listen}: it speaks FastCGI", source=pool.file,
                                  line=pool.listen_line or pool.line))
    if speaks is None:
        if "FastCGI protocol version: 72" in text:
            speaks = "http"
        elif "no valid HTTP/1.0 header" in text:
            speaks = "not-http"
    diff = None
    if target and target.file and target.line and speaks:
        lines = ev.files.get(target.file, ())
        if lines and 1 <= target.line <= len(lines):
            old = lines[target.line - 1]
            new = old
            if speaks == "fastcgi" and "proxy_pass" in old:
                new = old.replace("proxy_pass", "fastcgi_pass", 1).replace("http://", "", 1)
            elif speaks == "tls" and "http://" in old:
                new = old.replace("http://", "https://", 1)
            elif speaks == "http" and "fastcgi_pass" in old:
                new = old.replace("fastcgi_pass ", "proxy_pass http://", 1)
            if new != old:
                diff = replace_line(ev.files, target.file, target.line, [new])
    said = {"fastcgi": "FastCGI", "tls": "TLS", "http": "HTTP", "uwsgi": "uwsgi",
            "not-http": "something that is not HTTP"}.get(speaks or "", "another protocol")
    spoken = (target.kind if target and target.kind != "proxy" else
              ("https" if target and target.scheme == "https" else "http"))
    conf = 0.9 if (probe and speaks) or "72" in text else (0.85 if fpm else 0.7)
    return Candidate(finding=make_finding(
        "protocol-mismatch", confidence=conf, groups=groups,
        explanation=f"{proxy_name(ev.proxy)} speaks {spoken} to {peer}, but the backend there speaks "
                    f"{said}, so its reply is not a response {proxy_name(ev.proxy)} can parse.",
        evidence=items,
        fix=Fix(summary=f"use the directive/scheme that matches what {peer} speaks",
                commands=reload_commands(ev), diff=diff,
                file=target.file if diff and target else None),
        upstream=upstream_name(ev, peer), target=peer, status_codes=[502]), claims=claims(groups))
