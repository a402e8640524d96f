"""Caddy 2 as a full proxy: its Caddyfile or JSON config (``caddy adapt``), its reverse_proxy
handlers as upstream groups, their timeouts with Caddy's defaults, edits as Caddyfile diffs."""
