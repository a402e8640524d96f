"""why502.analyzers layer (see docs/architecture.md)."""
