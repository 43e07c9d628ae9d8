"""jrestore.metrics: PSNR / SSIM with explicit protocol knobs, named protocols, float64 NumPy references."""
from jrestore.metrics.protocols import PROTOCOLS, Protocol, get_protocol, resolve_knobs
from jrestore.metrics.psnr import psnr
from jrestore.metrics.reference import psnr_reference, ssim_reference
from jrestore.metrics.ssim import ssim

__all__ = ["psnr", "ssim", "psnr_reference", "ssim_reference", "Protocol", "PROTOCOLS", "get_protocol",
           "resolve_knobs"]
