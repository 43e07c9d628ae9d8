"""Every cross-framework tolerance, in one place (max-abs on float32 values of order 1 unless stated).

CPU float32 with matmul/conv precision pinned to 'highest' on both sides (see conftest.py and
parity_tests/conftest.py). Whole models allow ordinary float32 rounding through many layers: a different
convolution algorithm alone moves DnCNN-17 by about 5e-5 (../shared/reference/stack_notes.md).
"""
OP = 1e-6  # a single pure op
LAYER = 1e-5  # one layer / module
MODEL = 1e-4  # a whole network's output (relative to max(1, max|y|))
GRADIENT = 1e-4  # gradients, relative to max(1, max|g|) of each tensor
OPTIMIZER_STEP = 1e-5  # parameters after one optimizer step
# Adam's first step is lr * g / (|g| + eps): for |g| near eps it amplifies float32 gradient rounding
# (slope ~ lr / eps), so elements whose torch gradient is below this floor are left out of that check.
ADAM_GRAD_FLOOR = 1e-6
# Deep networks with BatchNorm in train mode have ill-conditioned gradients: at DnCNN's default size PyTorch's
# own float32 gradients differ from its float64 ones by ~2e-3 relative. A gradient tensor also passes when
# |jax - torch| is within this many times that float32 error of PyTorch (float64 run of the same model).
GRADIENT_FLOAT32_NOISE_FACTOR = 4.0
METRIC = 1e-10  # PSNR (dB) / SSIM against the float64 NumPy reference
METRIC_FLOAT32 = 1e-4  # float32 jnp/torch metric implementations against the float64 reference (dB)
PSNR_PUBLISHED_DB = 0.01  # per image, against expected_psnr.json
PSNR_PUBLISHED_MEAN_DB = 0.005
PSNR_CROSS_FRAMEWORK_DB = 0.001
# SSIM of the published checkpoints (jrestore / torch_ref, float32 on [0, 1]) against scikit-image's float64
# structural_similarity under the same protocol, per image: float32 moments e_xx - mu_x^2 cancel digits.
SSIM_SKIMAGE = 1e-4
CONVERSION = 0.0  # torch -> jrestore -> torch round trip is bit-exact
MATMUL_REL = 1e-5  # long (e.g. 1089-term) float32 dot products against float64, relative to max |reference|
STAT_Z = 5.0  # statistical checks of random streams allow this many standard errors (false alarm ~1 in 3.5e6)
# Losses (jrestore.losses vs torch_ref.losses): value and gradient w.r.t. the prediction, max-abs relative to the
# max |.| of the reference tensor (float32 reductions over ~1e3 elements round at ~1e-7 relative).
LOSS = 1e-6
LOSS_FLOAT64 = 1e-6  # float32 losses / gradients against their float64 NumPy formulas, relative
PERCEPTUAL_LOSS = 1e-5  # VGG perceptual / style loss and its input gradient (through 16 convs), relative
# SSIM losses: the float32 variance e_xx - mu_x^2 cancels digits, so values / gradients (and jit vs eager, which
# fuse differently) agree to ~1e-6 relative only; relative to the max |.| of the reference tensor.
SSIM_LOSS = 1e-5
# Optimisers (train/optim.py, both frameworks) after 5 float32 Adam / AdamW steps at lr 1e-2, max-abs against
# the float64 NumPy formulas (train/optim_test.py), relative to max(1, max |p|) of each tensor. Measured: up to
# 4e-7 on parameters up to ~3.5 in size, i.e. a few float32 roundings of the parameter itself (the bias
# corrections, computed by optax in float32, add ~1e-7 of an lr-sized step). A misread hyper-parameter (betas
# swapped, coupled vs decoupled decay, a schedule off by one update) moves them by 1e-4 .. 1e-2.
OPTIMIZER_FLOAT64 = 2e-6
# Learning-rate schedules evaluated in float32 (optax) against their float64 formulas, relative; absolute floor
# 1e-7 x the base lr for the zero of a warm-up and the cosine's tail near min_lr.
SCHEDULE_FLOAT32 = 1e-5
# Restored images written as uint8 (`jrestore restore`) against the PyTorch twin's float32 output rounded to
# levels: outputs ~1e-7 apart round to the same level unless one lies that close to a .5 boundary (about 5e-5
# of pixels), so at most one level apart, at a small fraction of pixels; a wrong model misses most of them.
UINT8_ROUNDING_LEVELS = 1
UINT8_ROUNDING_FRACTION = 0.01
