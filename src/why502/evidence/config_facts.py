"""The default proxy's config model as the cause model's targets, groups and files, through its
``facts`` plug-in (``Hooks.facts``: nginx's ``proxies.<name>.facts.config_facts``).

``diagnose`` reads every proxy's config through its ``diagnose_view`` plug-in, which calls its
facts plug-in itself; this entry is for a caller that holds the default proxy's parsed model
(``watch``'s health checks: the targets of the config it follows) and must not import the
proxy's folder (pyproject.toml, "the registry only").
"""

from __future__ import annotations

from typing import Any, cast

from why502.evidence.model import GroupFact, TargetFact
from why502.proxies import DEFAULT, of
from why502.proxies.base import resolve

ConfigFactsResult = tuple[list[TargetFact], dict[str, GroupFact], dict[str, tuple[str, ...]]]


def config_facts(cfg: Any) -> ConfigFactsResult:
    """Targets (one per group server), groups and the config files' lines of ``cfg``, the
    default proxy's config model."""
    facts = resolve(of(DEFAULT).hooks.facts)
    return cast(ConfigFactsResult, facts.config_facts(cfg))  # type: ignore[attr-defined]
