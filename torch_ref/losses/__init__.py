"""torch_ref.losses."""
