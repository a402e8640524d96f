"""nginx's lint input: the config plus what only the host and the backends can tell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from why502.analyzers.lint import LintFacts
from why502.proxies.nginx.config.model import NginxConfig
from why502.proxies.nginx.proxy import PROXY


@dataclass(frozen=True)
class NginxLintInput(LintFacts):
    """The config plus every optional fact (``LintFacts``): nginx's rules read them all (FPM
    pools, somaxconn, MemTotal, the open-files limit nginx runs with when
    ``worker_rlimit_nofile`` is unset, its worker user's supplementary ``groups``, the backend's
    timeouts, observed header sizes)."""

    config: NginxConfig = field(kw_only=True)
    proxy: ClassVar[str] = PROXY.name

    def directive_names(self) -> frozenset[str]:
        return self.config.directive_names()

    def file_text(self, path: str) -> str | None:
        return self.config.file_text(path)


def lint_input(config: NginxConfig, facts: LintFacts) -> NginxLintInput:
    """The input of nginx's rules: the config and every fact ``app.lint`` gathered."""
    return NginxLintInput(config=config, **vars(facts))
