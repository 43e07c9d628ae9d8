"""Every tolerance `jrestore verify` and the tests compare with, in one place (max-abs on float32 values of
order 1 unless stated). The tests' own unit, statistical and end-to-end tolerances form the block that
starts with "The tests' own tolerances".

CPU float32 with matmul/conv precision pinned to 'highest' on both sides (see conftest.py and
parity_tests/conftest.py). Whole models allow ordinary float32 rounding through many layers: a different
convolution algorithm alone moves DnCNN-17 by about 5e-5 (docs/conventions.md §11).
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

# ---- The tests' own tolerances (unit, statistical and end-to-end checks), so that every number a test compares
# with is named here. Values are the ones the tests used before they moved here.
# float64 identities on values of order 1 (orthonormal matrices, DCT / Haar transforms and their inverses, closed
# forms of a learning-rate schedule): at most thousands of float64 roundings (2.2e-16 each); a misread formula
# moves them by 1e-4 or more.
FLOAT64 = 1e-12
# A handful of float64 roundings: normalised filter weights summing to 1, one optimizer step or schedule value in
# closed form.
FLOAT64_FEW_ROUNDINGS = 1e-15
# Relative slack of a float32 value against a bound computed in float64 (float32 eps 1.2e-7: a few roundings),
# e.g. max |w| of U(-b, b) against b = 1 / sqrt(fan_in).
FLOAT32_ROUNDING = 1e-6
# float32 values on the 0..255 scale (a Y computed from 8-bit levels, level / 255 * 255, photon counts / peak *
# peak): the ulp at 235 is 1.5e-5 and XLA multiplies by 1/255 rather than dividing; a wrong colour coefficient
# moves Y by 0.01 or more.
FLOAT32_LEVELS = 1e-4
# PIL's float bicubic accumulates in float32 with its own coefficient rounding (measured 2e-7 .. 1e-6 on [0, 1]
# images against jrestore's and torch_ref's antialiased bicubic).
PIL_FLOAT32 = 1e-5
# jnp SSIM in float32 against the float64 reference on two nearly equal images near 0.9 (difference ~1e-3):
# the moments are taken of mean-shifted images, so no digits cancel; a naive E[x^2] - E[x]^2 is off by ~1e-2.
SSIM_FLOAT32 = 5e-7
# ISTA-Net's phases in float32 against a float64 NumPy transcription: each phase runs two 1089-term matmuls
# (MATMUL_REL each, relative) and 3x3 convolutions, values of order 1.
ISTA_FLOAT32 = 2e-5
# Sample standard deviation of one freshly drawn weight tensor against its formula, relative. The tensors tested
# have >= 9e3 elements, so the sample std's relative standard error 1/sqrt(2n) is <= 0.75 %; a wrong fan (in vs
# out), gain (sqrt(2), 0.1) or family (PyTorch's uniform vs Flax's lecun normal: sqrt(3)) moves it by >= 25 %.
INIT_STD = 0.03
# The same between jrestore's and PyTorch's fresh initialisations (two generators, two independent samples, some
# tensors of a few thousand elements; the same tests hold jrestore's alone to its formula with it), relative.
INIT_STD_CROSS_FRAMEWORK = 0.05
# max |w| of U(-b, b) in jrestore against PyTorch's, relative: with >= 1e4 draws each lies within 1 % of b
# (probability of a larger gap 0.99^1e4 ~ 2e-44).
INIT_MAX_CROSS_FRAMEWORK = 0.01
# Initialisation statistics checked over every tensor of a model at once (about 100 mean / std checks): 6
# standard errors keep the chance of any false alarm below 1e-7.
INIT_STAT_Z = 6.0
# Gaussian noise of sigma 25/255 over a batch of 128 patches of 40x40 (2e5 draws): sample std within 1 %
# relative (standard error 0.16 %) and mean within 1e-3 (standard error 2.2e-4).
NOISE_STD_REL = 0.01
NOISE_MEAN = 1e-3
# MATLAB-bicubic downscaling of the same images computed twice (in the input pipeline and in the test), float32.
RESIZE_REPEAT = 2e-6
# Learning-rate schedules in float32 (optax): absolute floor, times the base learning rate, for the zero of a
# warm-up and the cosine's tail near min_lr (see SCHEDULE_FLOAT32).
SCHEDULE_FLOAT32_FLOOR = 1e-7
# Tiled against whole-image restoration in the same framework, relative to max(1, max |y|): tiles change how XLA
# blocks the convolutions, so float32 sums run in another order.
TILING = 2e-5
# onnxruntime against PyTorch on the same exported model, relative to max(1, max |y|): other kernels, float32.
ONNX_RUNTIME = 1e-5
# XLA's cost analysis of a convolution against the analytic 2 * N * H * W * C_in * C_out * k * k FLOPs, relative:
# XLA also counts the bias add and the padding.
FLOP_COUNT_REL = 0.05
# Training in both frameworks from the same weights and batches. Losses after a short run (<= 20 steps) relative,
# and weights after it (values of order 0.1 .. 1) absolute: Adam normalises float32 gradient noise into lr-sized
# steps, so rounding compounds step by step.
TRAIN_LOSS = 1e-4
TRAIN_WEIGHTS = 1e-4
# Losses of the demo's 300-step run, relative: the same compounding over 15x more steps.
TRAIN_LOSS_LONG = 1e-3
# One run's losses on 8 fake devices or 2 jax.distributed processes against 1 device, relative: the batch is
# reduced across devices in another order.
TRAIN_LOSS_DEVICES = 1e-5
# The weights after that run, absolute (values of order 0.1 .. 1).
TRAIN_WEIGHTS_DEVICES = 1e-5
# Validation scores gathered from 2 jax.distributed processes (each scoring its share of the images) against one
# process scoring all of them with the same weights, through the evaluation code: the same float32 convolutions
# per image, so the means agree to float32 rounding of PSNR (dB) and SSIM (~1e-6 at 10-40 dB); an image left out,
# scored twice or scored with other weights moves the mean of 5 small images by 0.01 dB or more.
VAL_PSNR_PROCESSES = 1e-4
# Validation PSNR (dB) of two trained models (150 / 300 steps, one per framework) on the same images.
PSNR_TRAINED_DB = 0.05
# The same after the demo test's 6 steps (`jrestore demo --train-steps 6`): each step still cuts the loss by 20-40 %,
# and Adam turns float32 gradient noise on near-zero gradients into lr-sized steps, so the barely trained model's
# held-out PSNR (about 16.6 dB) moves with the convolution library's summation order. Measured on one CPU: JAX on
# XLA's convolutions vs torch 0.030 dB, on oneDNN's 0.046 and 0.050 (CI), JAX's two libraries 0.017-0.021 dB apart,
# while every step's loss agreed to 3e-4 relative (TRAIN_LOSS_LONG checks those). Three times the largest.
PSNR_SHORT_RUN_DB = 0.15
# bfloat16 compute against float32 for the same short run, relative: bfloat16 keeps 8 bits of mantissa
# (eps 7.8e-3), so losses agree to a few eps.
BFLOAT16_LOSS = 3e-2
# Wiener deconvolution with k -> 0 on an invertible PSF must recover the image to at least this PSNR (dB): only
# float32 rounding is left (about 118 dB on the test image), so 60 dB is far from any rounding and far above a
# deconvolution that fails (the blurred image itself is below 25 dB).
WIENER_RECOVERY_PSNR_DB = 60.0
# Parameters after 20 float32 optimizer steps (lr 0.01, clipping and schedules included) in optax and in
# torch.optim, absolute on values of order 1: OPTIMIZER_STEP's rounding, compounded over the steps.
OPTIMIZER_STEPS = 2e-5
# Absolute floor next to a relative float32 tolerance, for elements near zero (float32 eps is 1.2e-7).
FLOAT32_ABS_FLOOR = 1e-7
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
# Restored images written as integer levels (8- or 16-bit) against a float reference run another way (the
# other framework, the model called directly): float32 differences (MODEL) can move a value across a rounding
# boundary, so outputs may be one level apart; a wrong scale (255 vs 65535), channel or model is many levels off.
IMAGE_LEVELS = 1
# ... and the two agree exactly on at least this fraction of pixels (only values within MODEL of a rounding
# boundary can differ: well under 1 % of them).
IMAGE_LEVELS_EQUAL_FRACTION = 0.99
# A 16-bit restore that lost the input's low bytes gives multiples of 257 (an 8-bit level scaled to 16 bits);
# a full-precision one almost never (1 value in 257 by chance): at least this fraction of its values are not.
NOT_8BIT_FRACTION = 0.9
# BM3D (the `bm3d` package) under the kair_dncnn protocol against the DnCNN paper's BM3D row (Zhang et al.
# 2017, Table II, sigma 25): the paper's noise realisation is not ours, which moves each image's PSNR by
# up to 0.11 dB over Set12 (measured: mean 29.985 against 29.97); a wrong sigma scale or a colour read of a
# grey image is off by dB.
BM3D_PUBLISHED_IMAGE_DB = 0.15
# One float32 convolution (forward, input gradient or filter gradient; oneDNN's or XLA's) against its float64
# NumPy reference, max-abs relative to max |reference|: each value is one float32 dot product of at most ~1e3
# terms (k*k*C forward, k*k*O input gradient, N*H'*W' filter gradient in the tests), so MATMUL_REL's bound holds;
# a wrong pad side, stride phase, dilation or flipped filter moves them by 0.1 or more.
CONV_FLOAT32_REL = 1e-5
# INT8 models (jrestore quantize): JAX (AQT int8 convolutions) and PyTorch (fbgemm's quantised modules) run the
# same integers and scales, but requantise in different float arithmetic (torch: int32 accumulator times one float
# multiplier s_in * s_w / s_out, its bias rounded to int32; JAX: (acc * s_in * s_w + bias) / s_out), so an
# activation near a rounding boundary lands one level apart and that level can move the next layers' levels.
# Measured: DnCNN-17 on noisy 40x40 crops, max 1 output level (0.6 % of pixels) with torch-calibrated files,
# 2 levels with JAX-calibrated ones; FSRCNN (seven requantisations, float PReLUs between) up to 3 levels on up to
# 7 % of the pixels. In units of the output's scale; and the share of output pixels that differ at all.
INT8_CROSS_FRAMEWORK_LEVELS = 4.0
INT8_CROSS_FRAMEWORK_SHARE = 0.1
# Mean PSNR of the two frameworks' int8 models on a test set (dB): the per-pixel level differences above average
# out (measured 2e-4 dB on Set12 for DnCNN-S sigma 25).
INT8_PSNR_CROSS_FRAMEWORK_DB = 0.005
# PTQ of the official DnCNN-S sigma 25 on Set12 images, calibrated on the same images, may lose at most this much
# PSNR (measured 0.21 dB on all of Set12 calibrated on 20 Train400 images); a broken scale or zero point loses
# several dB.
INT8_PTQ_DNCNN_DROP_DB = 0.4
# JAX QAT's moving activation ranges (MovingAverageMinMaxObserver's rule, float32) against a float64 NumPy
# transcription of the same fake-quantised chain over the same batches, as the scale of each range, relative:
# float32 convolution sums and averages (~1e-6 relative) and the odd activation one level apart; a wrong
# averaging constant, order (observe after fake-quant) or first-step rule moves a scale by 1 % or more.
QAT_RANGE_FLOAT64_REL = 1e-4
# Activation equalisation (`--equalize`) is exact in real arithmetic; in float32 the scaled weights round (one
# rounding each of w * s and w / s) and every conv re-sums its products: the output moves by a few float32 eps
# of its largest value per layer (FSRCNN-tiny: 6 convolutions deep). 1e-5 of max |output| = ~80 eps.
EQUALIZE_FLOAT32_ABS = 1e-5
# JAX QAT (AQT) against PyTorch QAT (torch.ao) from the same weights and batches, six Adam steps at lr 1e-4: the
# activation scales each writes, relative. The frameworks fake-quantise the weights one level apart where
# w = -max|w| (torch's qint8 reaches -128, AQT's symmetric int8 stops at -127) and round the odd activation one
# level apart, which moves the deeper ranges: measured 2.3e-3 on a 4-layer DnCNN (also with lr 0, so not the
# training); the input's range, observed on the raw batches, agrees to float32 rounding.
QAT_RANGE_CROSS_FRAMEWORK_REL = 5e-3
# JAX QAT against PyTorch QAT, a float layer (--float-layers) after the same six Adam steps at lr 1e-4: the median
# |w_jax - w_torch| over its weights relative to the median distance each weight moved from the start. Adam
# rescales every gradient to about lr per step, so a weight whose gradient is near zero can move by a different
# sign in the two (the max difference is lr-sized, not useful); the median is measured 1.5e-3 on a 4-layer
# DnCNN. A float layer trained through int8 fake-quant in one framework, or not trained, moves it towards 1.
QAT_FLOAT_LAYER_UPDATE_MEDIAN_REL = 2e-2
