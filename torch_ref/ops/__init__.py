"""torch_ref.ops."""
