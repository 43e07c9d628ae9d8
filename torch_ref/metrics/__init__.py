"""torch_ref.metrics: PSNR / SSIM on NCHW tensors; protocols are jrestore.metrics.protocols."""
from jrestore.core.metrics.protocols import PROTOCOLS, Protocol, get_protocol
from torch_ref.metrics.psnr import psnr
from torch_ref.metrics.ssim import ssim

__all__ = ["psnr", "ssim", "Protocol", "PROTOCOLS", "get_protocol"]
