"""diagnose and explain reach every proxy through the registry (issue 23): no branch per proxy.

``app.diagnose.inputs.read_config`` reads the default proxy's config by its own path and every
other proxy's through its hooks (``diagnose_view``, else ``load_config`` + ``config_facts``);
``explain`` names the page of a pasted line's writer from the registry (its name, or its
``Detection.log_sources``).  A proxy added to ``PROXIES`` without these would be read as nginx or
get no page: these tests say so before a user does.
"""

from __future__ import annotations

from pathlib import Path

from why502.app.explain import proxy_page
from why502.proxies import DEFAULT, PROXIES

DOCS = Path(__file__).parents[2] / "docs"


def test_every_other_proxy_is_read_by_diagnose_through_its_hooks() -> None:
    for name, proxy in PROXIES.items():
        if name == DEFAULT:
            assert not proxy.hooks.diagnose_view  # the default proxy's own path (inputs.nginx_config)
            continue
        view, facts = proxy.hooks.diagnose_view, proxy.hooks.config_facts
        assert view or facts, f"{name}: diagnose would read its config as {DEFAULT}'s"
        if view:  # its plug-in lives in its own folder (docs/architecture.md, "A proxy's plug-ins")
            assert view.startswith(f"why502.proxies.{name}.diagnose:"), view


def test_a_lines_writer_gets_its_proxys_page_from_the_registry() -> None:
    for name, proxy in PROXIES.items():
        assert proxy_page(name, "") == f"docs/proxies/{name}.md"
        assert (DOCS / "proxies" / f"{name}.md").is_file()
        for source in proxy.detection.log_sources:  # Caddy's error logger: the go-proxy rules
            assert proxy_page(source, "dial tcp 127.0.0.1:9000: connect: connection refused") == \
                f"docs/proxies/{name}.md"
    # the same Go errors wrapped by cloudflared are Cloudflare's, not a registered proxy's
    assert proxy_page("go-proxy", "Unable to reach the origin service") == "docs/proxies/cloudflare.md"
    assert proxy_page("gunicorn", "") is None
