"""why502.sources layer (see docs/architecture.md)."""
