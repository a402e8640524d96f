"""The two ways the lab fails: it could not build its stack, or this machine cannot run a scenario.

``LabSkip`` is a ``LabError`` so callers that only care "did it run" catch one type, while
``why502 lab check`` and the tests tell a skip (missing program, no root, no IPv6) from a failure.
"""

from __future__ import annotations

from why502.errors import Why502Error


class LabError(Why502Error):
    """The lab could not build its stack (missing program, a process died at start)."""

    exit_code = 3


class LabSkip(LabError):
    """A scenario cannot run on this machine (needs root, IPv6, php-fpm...); not a failure."""
