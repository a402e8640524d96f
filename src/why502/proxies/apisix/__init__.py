"""Apache APISIX as a registered proxy: its standalone ``apisix.yaml`` / ``apisix.json`` or an Admin
API dump read as a file -- routes, services, upstreams, nodes, health checks, timeouts in seconds
and retries -- and its OpenResty error lines.  No APISIX binary and no Admin API are used (none
is installed here)."""
