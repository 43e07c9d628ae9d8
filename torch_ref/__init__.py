"""torch_ref: the PyTorch twin of jrestore (NCHW), file for file and name for name.

It needs torch but not torchvision. Protocol definitions and host-side NumPy helpers are imported from
jrestore so that each is defined once.
"""
__version__ = "0.1.0"
