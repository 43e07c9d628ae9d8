"""Evaluation under the papers' protocols, in jrestore and in torch_ref side by side."""
