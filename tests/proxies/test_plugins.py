"""A proxy's plug-ins are reached only through its Hooks (docs/architecture.md, "A proxy's plug-ins").

The modules of a proxy's folder that serve a higher layer (``lint``, ``fix``, ``source``,
``facts``, ``diagnose``, ``stats``, ``lab``, ``mitigate``) may import that layer --
``pyproject.toml``'s import contracts allow exactly those edges -- so the layer they serve must
never import them back: it resolves them by name (``proxies.base.resolve``).  A static import from
outside the folder would make the layer order a fiction; this test reads every module's imports
and fails on one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import why502

SRC = Path(why502.__file__).parent
PLUGINS = ("lint", "fix", "source", "facts", "diagnose", "stats", "lab", "mitigate", "analyze")


def plugin_imports(rel: str, source: str) -> list[str]:
    """The plug-in modules (``why502.proxies.<name>.<plugin>``) that the module at ``rel`` (its
    path under src/why502) imports, unless they are in its own proxy's folder."""
    parts_of = rel.split("/")
    own = parts_of[1] if parts_of[0] == "proxies" and len(parts_of) > 2 else None
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if (len(parts) >= 4 and parts[:2] == ["why502", "proxies"] and parts[3] in PLUGINS
                    and parts[2] != own):
                found.append(name)
    return found


def test_no_module_imports_a_proxys_plugin() -> None:
    offenders = {rel: names for p in sorted(SRC.rglob("*.py"))
                 if (names := plugin_imports(rel := p.relative_to(SRC).as_posix(),
                                             p.read_text(encoding="utf-8")))}
    assert offenders == {}, f"import a proxy's plug-in through its Hooks (proxies.base.resolve): {offenders}"


def test_the_scan_sees_an_import() -> None:
    code = "from why502.proxies.haproxy.lint import rules\nimport why502.proxies.base\n"
    assert plugin_imports("app/x.py", code) == ["why502.proxies.haproxy.lint",
                                               "why502.proxies.haproxy.lint.rules"]
    assert plugin_imports("proxies/haproxy/config.py", code) == []  # its own folder
    assert plugin_imports("proxies/nginx/proxy.py", "import why502.proxies.caddy.fix\n") == [
        "why502.proxies.caddy.fix"]
