"""dncnn_s25 read from a tensorflow-datasets dataset through tfds.data_source and grain (array_record, no
TensorFlow): by default `restoration_folder`, an image folder prepared once with
    python -m train.data.tfds_folder /path/to/Train400 --data_dir DIR
and trained with --set data.data_dir=DIR. Any prepared dataset with an image feature works the same way
(data.name, data.split, data.image_key), e.g. a catalog dataset prepared elsewhere with TensorFlow:
--set data.name=div2k/bicubic_x2 (its "hr" images). Everything else is dncnn_s25's (Set12 validation).
"""
from train.configs import dncnn_s25


def get_config(variant: str = ""):
    c = dncnn_s25.get_config(variant)
    c.recipe = "dncnn_s25_tfds"
    c.data.update(source="tfds", path="", name="restoration_folder", split="train", data_dir="")
    return c
