"""The no-distillation baseline of `dncnn_distill_s25`: the same 8-layer DnCNN student, data, noise, schedule,
initial weights and batch order, trained on MSE against the clean images alone (distill.beta and
distill.feature_weight 0, so no teacher is loaded). Comparing the two at equal steps measures what the teacher
adds (README, Training > Distillation)."""
from train.configs import dncnn_distill_s25


def get_config(variant: str = ""):
    c = dncnn_distill_s25.get_config(variant)
    c.recipe = "dncnn_small_s25"
    c.distill.update(beta=0.0, feature_weight=0.0)
    return c
