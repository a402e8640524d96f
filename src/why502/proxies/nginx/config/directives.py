"""What nginx's directives are: module, contexts, compiled-in default, type, inheritance kind.

The table is data (``catalog/data/directives.toml``, one row per directive, with its nginx.org
doc link); this module loads it once.  ``inherit`` is how ``ngx_http_*_merge_loc_conf`` treats a
level that does not set the directive: ``merge`` (take the enclosing value), ``array`` (inherit
all entries only when the level has none, ``proxy_set_header`` & co.) or ``none`` (content
handlers such as ``proxy_pass``: never inherited by nested locations).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from why502.catalog import tomldata

PASS_DIRECTIVES: dict[str, str] = {
    "proxy_pass": "proxy",
    "fastcgi_pass": "fastcgi",
    "uwsgi_pass": "uwsgi",
    "scgi_pass": "scgi",
    "grpc_pass": "grpc",
    "memcached_pass": "memcached",
}



@dataclass(frozen=True)
class DirectiveInfo:
    """One row of ``directives.toml``."""

    name: str
    module: str
    contexts: tuple[str, ...]
    default: str | None
    type: str
    inherit: str  # merge | array | none
    doc: str
    note: str | None = None


@lru_cache(maxsize=1)
def directive_table() -> dict[str, DirectiveInfo]:
    """The directive table, keyed by name (``name@context`` for context-specific rows)."""
    base = resources.files("why502.catalog").joinpath("data").joinpath("directives.toml")
    data = tomldata.table(base)
    table: dict[str, DirectiveInfo] = {}
    for name, raw in data.get("directive", {}).items():
        table[name] = DirectiveInfo(
            name=name,
            module=str(raw["module"]),
            contexts=tuple(raw.get("contexts", [])),
            default=raw.get("default"),
            type=str(raw.get("type", "string")),
            inherit=str(raw.get("inherit", "merge")),
            doc=str(raw.get("doc", "")),
            note=raw.get("note"),
        )
    return table


def directive_info(name: str, context: str | None = None) -> DirectiveInfo | None:
    """Look up a directive; ``context`` picks ``name@context`` rows (``keepalive_timeout@upstream``)."""
    table = directive_table()
    if context and f"{name}@{context}" in table:
        return table[f"{name}@{context}"]
    return table.get(name)

