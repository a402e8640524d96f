"""``why502 mitigate``: stop the bleeding now (take a failing server out, serve a fallback, give
a slow backend more time), through ``why502 fix``'s transaction and write policy; revert it
exactly once the backend is healthy (docs/guide/mitigate.md)."""
