"""SRGAN x4 (Ledig et al. 2017, SRGAN-VGG54): the generator starts from a trained SRResNet
(--set init.weights=PATH, e.g. the srresnet_x4 run's export), content loss = MSE on VGG19 relu5_4 features
(the paper's 1/12.75 feature rescaling, i.e. weight 1/12.75^2) + 1e-3 adversarial (BCE with logits), no
pixel loss; Adam 1e-4 for both networks, 10^5 updates then 10^5 at 1e-5. Needs ImageNet VGG19 weights:
--set loss.perceptual.vgg_weights=vgg19-dcbb9e9d.pth."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    c = sr_config("srgan_x4", "srresnet", {"scale": 4, "num_channels": 3, "num_feat": 64, "num_block": 16}, 4,
                  "rgb", 96, 16, 1e-4, 200_000, variant)
    c.loss.update(name="mse", pixel_weight=0.0)
    c.loss.perceptual.update(weight=1.0 / 12.75 ** 2, layer_weights={"relu5_4": 1.0}, vgg_type="vgg19", criterion="l2")
    c.gan.update(weight=1e-3, gan_type="vanilla")
    c.gan.discriminator.kwargs = {"num_channels": 3, "num_feat": 64, "input_size": 96}
    c.gan.optim.lr = 1e-4
    c.schedule.update(name="multistep", milestones=[100_000], gamma=0.1)
    if variant == "runlocal":
        c.model.kwargs.update(num_feat=8, num_block=1)
        c.data.patch_size = 32
        c.loss.perceptual.num_feat = 4
        c.gan.discriminator.kwargs = {"num_channels": 3, "num_feat": 4, "input_size": 32}
    return c
