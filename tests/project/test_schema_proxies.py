"""The report schema accepts every registered proxy and lists none: the registry is the list.

A report about an Envoy or a Caddy carries ``inputs.proxy`` and ``findings[].proxy`` with that
proxy's name.  The schema once listed only nginx, Apache and HAProxy, so every such report failed
validation against the schema why502 ships (found when the edge lab's recordings landed, issue
24); it then listed every proxy in two ``enum``s, so adding a proxy meant editing the schema too
(Kong's folder did, stop 38).  Issue 23 asks that adding a proxy be its folder and one line in
``why502.proxies.FOLDERS``: the schema says what a proxy's name looks like (``pattern``) and that
it is a name of ``why502.proxies.PROXIES``.  These tests fail if an ``enum`` of names comes back,
or if a registered name would not validate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema

from why502.proxies import PROXIES


def _schema() -> Any:
    return json.loads(resources.files("why502").joinpath("schemas/report.schema.json").read_text())


def _proxy_properties(node: Any) -> Iterator[dict[str, Any]]:
    """Every property called ``proxy``, anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "proxy" and isinstance(value, dict) and ("type" in value or "enum" in value):
                yield value
            yield from _proxy_properties(value)
    elif isinstance(node, list):
        for item in node:
            yield from _proxy_properties(item)


def test_the_schema_lists_no_proxy_and_accepts_every_registered_one() -> None:
    props = list(_proxy_properties(_schema()))
    assert len(props) >= 2  # inputs.proxy and findings[].proxy
    for prop in props:
        assert "enum" not in prop, "the registry is the list of proxies: no enum in the schema"
        assert "why502.proxies.PROXIES" in prop["description"]
        for name in PROXIES:
            assert re.fullmatch(prop["pattern"], name), name
            jsonschema.validate(name, prop)
        for wrong in ("", "NGINX", "nginx; rm -rf /", "a b"):
            assert not re.fullmatch(prop["pattern"], wrong), wrong
