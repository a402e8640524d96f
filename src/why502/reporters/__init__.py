"""why502.reporters layer (see docs/architecture.md)."""
