"""Training recipes, one module per recipe, each with `get_config(variant: str = "") -> ConfigDict`.

The variant "runlocal" is a small smoke run of the same recipe (tiny width, few steps, a few images) that
finishes in seconds on a CPU. `train.config.load_config("dncnn_s25:runlocal")` picks one.
"""
RECIPES = ("dncnn_s25", "ista_net_plus_r25", "srcnn_x3", "fsrcnn_x3", "espcn_x3", "srresnet_x4", "srgan_x4", "wasa_x2",
           "dncnn_real", "dncnn_s25_tfds", "dncnn_distill_s25", "dncnn_small_s25", "ista_net_plus_progressive_r25",
           "ista_net_plus_learned_phi_r25")
