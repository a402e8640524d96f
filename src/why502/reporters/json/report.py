"""``--format json``: the versioned JSON contract (docs/architecture.md).

The document is exactly ``Report.to_dict()``; ``why502/schemas/report.schema.json`` describes it
and the tests validate real outputs against it.  Text from logs is kept verbatim (JSON escaping
makes it inert); consumers rendering it must escape it themselves.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from why502.findings.model import Report
from why502.textutil import dump_json


def to_json(report: Report, *, indent: int | None = 2) -> str:
    """The report as a JSON document (UTF-8 text, trailing newline)."""
    return dump_json(report.to_dict(), indent=indent) + "\n"


def load_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the report document."""
    text = resources.files("why502").joinpath("schemas/report.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
