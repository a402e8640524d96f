"""Kubernetes controllers' words as data (``catalog/data/kubernetes.toml``).

The messages an ingress controller logs when a Service has no endpoint and the placeholder
servers a Gateway API controller writes into its config are third-party programs' texts: they
live in the data file with their provenance, and ``evidence.kubernetes`` reads them from here
(issue 23: the layers above the proxies name no proxy in their code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from why502.catalog import _data_table


@dataclass(frozen=True)
class NoEndpoints:
    """A controller's line saying a Service has no endpoint: ``pattern``'s group 1 is the
    Service (``NS/NAME``); ``source`` names the program in a symptom group."""

    source: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Placeholder:
    """A server a controller writes into an upstream block that has nothing to send to."""

    server: str
    cause: str
    meaning: str
    status: int


@dataclass(frozen=True)
class ControllerWords:
    no_endpoints: tuple[NoEndpoints, ...]
    placeholders: dict[str, Placeholder]


@lru_cache(maxsize=1)
def controller_words() -> ControllerWords:
    """The data file, read once per process."""
    data = _data_table("kubernetes.toml")
    return ControllerWords(
        no_endpoints=tuple(NoEndpoints(str(r["source"]), re.compile(str(r["pattern"])))
                           for r in data.get("no_endpoints", [])),
        placeholders={str(r["server"]): Placeholder(str(r["server"]), str(r["cause"]),
                                                    str(r["meaning"]), int(r["status"]))
                      for r in data.get("placeholder", [])})
