"""why502.parsers layer (see docs/architecture.md)."""
