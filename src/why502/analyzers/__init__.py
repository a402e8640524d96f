"""why502.analyzers: pure functions from ``Evidence`` to candidate findings (docs/architecture.md)."""
