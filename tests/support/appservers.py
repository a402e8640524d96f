"""Real app servers for tests/appservers: a thin re-export of ``why502.lab.runtime.appservers``
(the lab's own launchers of gunicorn, uWSGI and Node; loopback, random ports, stopped by PID)."""

from __future__ import annotations

from why502.lab.runtime.appservers import (
    NODE_APP,
    WSGI_APP,
    bin_of,
    bursty_posts,
    proxy_to,
    start_gunicorn,
    start_node,
    start_uwsgi,
    wait_port,
)

__all__ = ["NODE_APP", "WSGI_APP", "bin_of", "bursty_posts", "proxy_to", "start_gunicorn",
           "start_node", "start_uwsgi", "wait_port"]
