"""Pure, jit-able functions on NHWC arrays, one module per concern (import the module or its functions):

    resize         imresize_matlab, resize_bicubic_torch, resize_bicubic_pil, quantize_uint8
    color          MATLAB / OpenCV / yjn870 colour conversions
    pixel_shuffle  pixel_shuffle / pixel_unshuffle in PyTorch's channel order
    wavelet        Haar dwt / iwt (MWCNN sub-band order)
    shrinkage      soft_threshold
    cs_blocks      ISTA-Net block split / merge and measurements
    wiener         Wiener deconvolution, PSF generators, circular blur
    noise          Gaussian / Poisson / salt-and-pepper synthesis, KAIR's legacy NumPy test noise
    onednn         optional oneDNN CPU convolutions (jax.ffi + custom_vjp) behind Conv2d (a backend: no torch twin)

torch_ref.ops mirrors each module with the same function names on NCHW tensors.
"""
