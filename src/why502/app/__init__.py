"""why502.app layer (see docs/architecture.md)."""
