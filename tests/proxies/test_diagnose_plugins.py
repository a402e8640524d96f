"""diagnose and explain reach every proxy through the registry (issue 23): no branch per proxy.

``app.diagnose.inputs.read_config`` reads every proxy's config through its hooks, the default
proxy's too (``diagnose_view``, else ``load_config`` + ``config_facts``);
``explain`` names the page of a pasted line's writer from the registry (its name, or its
``Detection.log_sources``).  A proxy added to ``PROXIES`` without these would be read as nginx or
get no page: these tests say so before a user does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import why502
from why502.app.explain import proxy_page
from why502.proxies import PROXIES
from why502.proxies.base import Capability

DOCS = Path(__file__).parents[2] / "docs"


def test_every_proxy_is_read_by_diagnose_through_its_hooks() -> None:
    for name, proxy in PROXIES.items():
        view, facts = proxy.hooks.diagnose_view, proxy.hooks.config_facts
        assert view or facts, f"{name}: diagnose has no reader of its config"
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


# diagnose and lint reach every proxy, the default one too, through its hooks (issue 23): none of
# their modules imports a proxy's folder.  pyproject.toml's contract "analyzers, app, reporters,
# evidence and sources import no proxy's folder" says the same for the whole of app once its
# ignore_imports name none of these; this test names them so that an entry added back there
# still fails here.
ONE_INTERFACE = ("app/diagnose", "app/lint.py", "evidence/config_facts.py")


def _proxy_folders_imported(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [n for n in names if n.split(".")[:2] == ["why502", "proxies"]
                  and len(n.split(".")) > 2 and n.split(".")[2] in PROXIES]
    return found


def test_diagnose_and_lint_import_no_proxys_folder() -> None:
    src = Path(why502.__file__).parent
    offenders = {}
    for rel in ONE_INTERFACE:
        paths = sorted((src / rel).rglob("*.py")) if (src / rel).is_dir() else [src / rel]
        for path in paths:
            if names := _proxy_folders_imported(path.read_text(encoding="utf-8")):
                offenders[path.relative_to(src).as_posix()] = names
    assert offenders == {}, f"read the proxy through the registry and its Hooks: {offenders}"
    assert _proxy_folders_imported("from why502.proxies.nginx.config import NginxConfig\n") == [
        "why502.proxies.nginx.config"]


def test_a_proxy_that_lints_this_host_has_the_reader_for_it() -> None:
    """``Capability.LINT_HOST_FACTS`` is what ``Hooks.lint_config`` provides (app.lint asks the hook)."""
    for name, proxy in PROXIES.items():
        assert proxy.can(Capability.LINT_HOST_FACTS) == bool(proxy.hooks.lint_config), name
