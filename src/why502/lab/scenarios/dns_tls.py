"""Name resolution and TLS to the upstream: the connection fails before any HTTP is spoken.

A variable ``proxy_pass`` host that does not resolve (NXDOMAIN, no ``resolver``, a resolver
that never answers; ``ngx_http_upstream_resolve_handler()``), and ``proxy_pass https://`` that
fails its handshake or verification (``ngx_ssl_handshake()``, src/event/ngx_event_openssl.c).
"""

from __future__ import annotations

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="dns-unresolvable",
    cause="dns-unresolvable",
    title="The upstream name does not resolve",
    description="A variable proxy_pass host gets NXDOMAIN from the configured resolver.",
    symptoms=("dns-failure",),
    expect=(("error", r"could not be resolved \(3: Host not found\)"),),
)
def _dns_unresolvable(stack: Stack, run: ScenarioRun) -> None:
    """A variable ``proxy_pass`` host is resolved per request by ``resolver``; NXDOMAIN becomes
    ``%V could not be resolved (3: Host not found)`` (``ngx_http_upstream_resolve_handler()``)."""
    dns = stack.add_backend("dns-nxdomain", name="dns")
    stack.start_nginx(server(stack, f"""
        resolver 127.0.0.1:{dns.port} valid=10s;
        resolver_timeout 1s;
        location / {{
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }}
    """))
    run.steps.append("proxy_pass uses a variable host; the resolver answers NXDOMAIN for it")
    run.record("GET /v1/users", stack.requests("/v1/users", count=3))


@scenario(
    name="dns-no-resolver",
    cause="dns-unresolvable",
    title="Variable proxy_pass without a resolver",
    description="proxy_pass http://$api_host:8080 with no resolver directive.",
    symptoms=("dns-failure",),
    expect=(("error", r"no resolver defined to resolve api\.internal\.example"),),
)
def _dns_no_resolver(stack: Stack, run: ScenarioRun) -> None:
    stack.start_nginx(server(stack, """
        location / {
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }
    """))
    run.steps.append("proxy_pass uses a variable host and there is no resolver directive")
    run.record("GET /v1/users", stack.requests("/v1/users", count=2))


@scenario(
    name="dns-timeout",
    cause="dns-unresolvable",
    title="The resolver does not answer",
    description="A variable proxy_pass host and a resolver that never replies.",
    symptoms=("dns-failure",),
    expect=(("error", r"could not be resolved \(110: Operation timed out\)"),),
)
def _dns_silent(stack: Stack, run: ScenarioRun) -> None:
    dns = stack.add_backend("dns-silent", name="dns")
    stack.start_nginx(server(stack, f"""
        resolver 127.0.0.1:{dns.port};
        resolver_timeout 1s;
        location / {{
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }}
    """))
    run.steps.append("the resolver never answers (resolver_timeout 1s)")
    run.record("GET /v1/users", stack.requests("/v1/users", count=1))


@scenario(
    name="upstream-tls-mismatch",
    cause="upstream-tls-mismatch",
    title="https:// to a plain-HTTP backend",
    description="proxy_pass https:// to a port that speaks plain HTTP: the TLS handshake fails.",
    symptoms=("tls-failure",),
    expect=(("error", r"SSL_do_handshake\(\) failed .*wrong version number"),),
    needs=("openssl",),
)
def _tls_mismatch(stack: Stack, run: ScenarioRun) -> None:
    """The plain server answers the ClientHello with ``HTTP/1.1 400``; OpenSSL reads that as a bad
    record: ``wrong version number`` (``ngx_ssl_handshake()``, error level for this reason)."""
    app = stack.add_backend("ok", name="billing")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
        }}
    """))
    run.steps.append(f"nginx speaks TLS (proxy_pass https://) to {app.address}, a plain-HTTP port")
    run.record("GET /invoices", stack.requests("/invoices", count=3))


@scenario(
    name="tls-verify-error",
    cause="upstream-tls-mismatch",
    title="Upstream certificate not trusted",
    description="proxy_ssl_verify on, and the backend's self-signed certificate is not in the trusted CAs.",
    symptoms=("tls-failure",),
    expect=(("error", r"upstream SSL certificate verify error: \(18:self-signed certificate\)"),),
    needs=("openssl",),
)
def _tls_verify(stack: Stack, run: ScenarioRun) -> None:
    """nginx's verify callback accepts everything and checks the result after the handshake, so the
    failure is ``upstream SSL certificate verify error: (18:self-signed certificate)``
    (``ngx_http_upstream_ssl_handshake()``), not a handshake error."""
    app = stack.add_backend("tls", name="billing")
    ca = stack.other_ca()
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_name localhost;
        }}
    """))
    run.steps.append("the backend's certificate is self-signed; proxy_ssl_verify on with another CA")
    run.record("GET /invoices", stack.requests("/invoices", count=2))


@scenario(
    name="tls-no-sni",
    cause="upstream-tls-mismatch",
    title="HTTPS upstream requires SNI",
    description="proxy_pass https:// to a server that rejects handshakes without SNI (alert 112).",
    symptoms=("tls-failure",),
    expect=(("error", r"SSL_do_handshake\(\) failed .*unrecognized name"),),
    needs=("openssl",),
)
def _tls_no_sni(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("tls-sni", name="edge")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_set_header Host api.partner.example;
        }}
    """))
    run.steps.append("the HTTPS upstream needs SNI to choose a certificate; nginx sends none "
                     "(proxy_ssl_server_name is off by default)")
    run.record("GET /v2/quote", stack.requests("/v2/quote", count=2))
