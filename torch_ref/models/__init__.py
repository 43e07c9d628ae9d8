"""torch_ref.models."""
