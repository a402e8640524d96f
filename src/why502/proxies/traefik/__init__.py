"""Traefik v2/v3 as a registered proxy: its dynamic config (file provider, YAML or TOML) read as a
file -- routers, services, their servers and ``serversTransport`` timeouts -- and its access and
error logs (``log.py``).  No Traefik binary and no live API are used (none is installed here)."""
