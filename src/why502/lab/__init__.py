"""why502.lab layer (see docs/architecture.md)."""
