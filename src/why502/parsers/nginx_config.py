"""Old import path of :mod:`why502.parsers.nginx`, kept while modules still import it.

New code imports ``why502.parsers.nginx`` (or its modules); delete this file once nothing
imports ``why502.parsers.nginx_config``.
"""

from __future__ import annotations

from why502.parsers.nginx import *  # noqa: F403
from why502.parsers.nginx import __all__  # noqa: F401
