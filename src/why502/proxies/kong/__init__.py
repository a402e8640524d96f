"""Kong Gateway as a registered proxy: its declarative config (``kong.yml`` of DB-less mode, a decK
state file) read as a file -- services, routes, upstreams, targets, health checks, timeouts in ms
and retries.  No Kong binary and no Admin API are used (none is installed here)."""
