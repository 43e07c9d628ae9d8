"""torch_ref.metrics."""
