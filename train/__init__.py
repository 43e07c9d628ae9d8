"""Training for jrestore models. `train.data`: the grain input pipeline (patches, degradations, sharding)."""
