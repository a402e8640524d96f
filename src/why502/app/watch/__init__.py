"""``why502 watch``: the long-running half of why502 (see ``engine`` for the loop).

- ``engine``: follow the logs, count, open and resolve incidents, diagnose them on the spot;
- ``incidents``: the rules and the sliding window (pure);
- ``metrics``: the Prometheus metrics and the ``/metrics`` server;
- ``traffic``: the access-log hot path (batches counted in polars, one custom collector);
- ``alerts``: Alertmanager's v2 API, in its own thread with backoff;
- ``health``: active health checks of the config's targets;
- ``services``: starts the Alertmanager and health-check threads next to the loop;
- ``view``: the one-line-per-event and live terminal views.
"""
