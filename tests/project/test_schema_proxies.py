"""The report schema names every registered proxy, and no other.

A report about an Envoy or a Caddy carries ``inputs.proxy`` and ``findings[].proxy`` with that
proxy's name; the schema listed only nginx, Apache and HAProxy, so every such report failed
validation against the schema why502 ships (found when the edge lab's recordings landed, issue
24).  A proxy added to ``why502.proxies.PROXIES`` must be added to the schema's enums too: this
test fails until it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from why502.proxies import PROXIES


def _proxy_enums(node: Any) -> Iterator[list[Any]]:
    """Every ``enum`` under a property called ``proxy``, anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "proxy" and isinstance(value, dict) and "enum" in value:
                yield value["enum"]
            yield from _proxy_enums(value)
    elif isinstance(node, list):
        for item in node:
            yield from _proxy_enums(item)


def test_every_proxy_enum_of_the_report_schema_is_the_registry() -> None:
    schema = json.loads(resources.files("why502").joinpath("schemas/report.schema.json").read_text())
    enums = list(_proxy_enums(schema))
    assert len(enums) >= 2  # inputs.proxy and findings[].proxy
    for enum in enums:
        assert [name for name in enum if name is not None] == list(PROXIES)
