"""cloudflared (Cloudflare Tunnel's connector) as a registered proxy: a locally managed tunnel's
``config.yml`` read as a file (ingress rules, origin services, ``originRequest``) and its origin-error
log (``log.py``).  No cloudflared binary is used (none is installed here)."""
