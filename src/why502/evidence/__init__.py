"""why502.evidence layer (see docs/architecture.md)."""
