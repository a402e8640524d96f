"""Lab scenarios: each reproduces one root cause on a real nginx on loopback.

One module per cause family declares its scenarios with ``@scenario(...)`` next to each function
(:mod:`~why502.lab.scenarios.model`); :mod:`~why502.lab.scenarios.registry` collects them.
``SCENARIOS`` are the ones ``why502 lab`` offers (one per root cause that one machine can
reproduce); ``RECORDINGS`` adds symptom-only recipes used by ``scripts/record-fixtures`` to
capture every message nginx and PHP-FPM really write (send timeouts, broken pipes, TLS verify
errors...).  The message texts come from nginx's ``src/http/ngx_http_upstream.c``,
``src/event/ngx_event_connect.c`` and PHP-FPM's ``sapi/fpm/fpm/fpm_children.c`` /
``fpm_process_ctl.c`` / ``fpm_request.c``.
"""

from __future__ import annotations

from why502.lab.scenarios.model import Scenario, ScenarioRun, scenario
from why502.lab.scenarios.registry import RECORDINGS, SCENARIOS

__all__ = ["RECORDINGS", "SCENARIOS", "Scenario", "ScenarioRun", "scenario"]
