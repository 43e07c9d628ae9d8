"""The wavelet-attention SR network x2 (the design sketch, docs/conventions.md §15): RGB, 96x96 HR patches,
loss = L1 + 0.1 x VGG19 perceptual loss on features[:35] (the output of conv5_4, before its ReLU, as ESRGAN),
Adam 1e-4. The design sketch (seed 001) feeds VGG19 the raw [0, 1] images, without ImageNet normalisation:
`loss.perceptual.use_input_norm=False` here says so (set it True for BasicSR's / ESRGAN's normalised input).
The perceptual loss needs ImageNet VGG19 weights: --set loss.perceptual.vgg_weights=vgg19-dcbb9e9d.pth."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    c = sr_config("wasa_x2", "wasa", {"scale": 2, "num_channels": 3, "num_feat": 64, "num_block": 16}, 2, "rgb", 96,
                  16, 1e-4, 500_000, variant)
    c.loss.name = "l1"
    c.loss.perceptual.update(weight=0.1, layer_weights={"conv5_4": 1.0}, vgg_type="vgg19", criterion="l1",
                             use_input_norm=False)
    if variant == "runlocal":
        c.model.kwargs.update(num_feat=16, num_block=1)
        c.loss.perceptual.num_feat = 4  # a random, narrow VGG: a smoke test of the plumbing, not a real loss
        c.data.patch_size = 32
    return c
