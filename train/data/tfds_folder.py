"""An image folder as a tensorflow-datasets dataset in array_record format, without TensorFlow.

    python -m train.data.tfds_folder FOLDER --data_dir DIR             # restoration_folder (clean images)
    python -m train.data.tfds_folder FOLDER --data_dir DIR --paired    # restoration_folder/paired

then train from it through tfds.data_source and grain:
    jrestore train --config dncnn_s25:runlocal --set data.source=tfds --set data.name=restoration_folder \
        --set data.data_dir=DIR --set data.path=''        (see train/configs/dncnn_s25_tfds.py)

FOLDER holds the images (8- or 16-bit, grey or RGB: train.data.images), or one sub-folder per split named
train / validation / test. Paired (real degradations, BasicSR's layout): FOLDER/gt and FOLDER/lq (or
FOLDER/<split>/gt and lq), matched by name as the paired folder source does (`filename_tmpl`). This is
tfds's manual-data convention (`dl_manager.manual_dir`): nothing is downloaded.

Records: "image" (the clean image) and, paired, "lq": uint16 [H, W, C] zlib-compressed tensors (tfds's
Image feature needs TensorFlow to encode PNG), with "image_bits" / "lq_bits" = 8 or 16 (8-bit images are stored
widened; the training source narrows them back) and "name" (the file name). One prepared dataset per
data_dir: a second folder needs its own data_dir (or `overwrite=True` to replace the first).
Catalog datasets prepared elsewhere (div2k, ...) are read by the same source (`data.name=div2k/bicubic_x2`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jrestore.data.image_io import list_images
from train.data.images import read_training_image

__all__ = ["RestorationFolder", "prepare_folder", "SPLITS"]

SPLITS = ("train", "validation", "test")


def _image_feature():
    return tfds.features.Tensor(shape=(None, None, None), dtype=np.uint16, encoding=tfds.features.Encoding.ZLIB)


class RestorationFolder(tfds.core.GeneratorBasedBuilder):
    """A folder of training images (config "single", the default) or of degraded/clean pairs ("paired")."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Images as uint16 tensors with their bit depth; paired LQ/GT by name."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="single", description="clean images"),
                       tfds.core.BuilderConfig(name="paired", description="degraded (lq) and clean (gt) pairs")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("Pass the image folder as manual_dir (prepare_folder does): images, or one "
                                    "sub-folder per split; paired: gt/ and lq/ sub-folders matched by name.")

    def __init__(self, *, filename_tmpl: str = "{}", **kwargs):
        self.filename_tmpl = filename_tmpl  # paired: the LQ stem of GT stem s is filename_tmpl.format(s)
        super().__init__(**kwargs)

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        # tfds's own lookup of this file goes through importlib_resources, which tfds uses but does not
        # declare (and which is not installed); the answer is simply this module's file
        from etils import epath

        return epath.Path(__file__)

    @property
    def paired(self) -> bool:
        return self.builder_config.name == "paired"

    def _info(self) -> tfds.core.DatasetInfo:
        features = {"image": _image_feature(), "image_bits": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "name": tfds.features.Text()}
        if self.paired:
            features.update(lq=_image_feature(), lq_bits=tfds.features.Tensor(shape=(), dtype=np.int32))
        # DatasetInfo directly: dataset_info_from_configs reads package metadata files this module does not ship
        return tfds.core.DatasetInfo(builder=self, description=__doc__.split("\n")[0],
                                     features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        root = Path(dl_manager.manual_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder (the image folder to prepare)")
        splits = [s for s in SPLITS if (root / s).is_dir()]
        return {s: self._generate_examples(root / s) for s in splits} or {"train": self._generate_examples(root)}

    def _generate_examples(self, folder: Path):
        if not self.paired:
            for path in list_images(folder):
                yield path.name, _record(read_training_image(path), path.name)
            return
        from train.data.sources import match_pairs

        if not (folder / "gt").is_dir() or not (folder / "lq").is_dir():
            raise FileNotFoundError(f"{folder}: a paired folder needs gt/ and lq/ sub-folders")
        gt_paths = list_images(folder / "gt")
        for gt_path, lq_path in zip(gt_paths, match_pairs(gt_paths, list_images(folder / "lq"), self.filename_tmpl)):
            lq = _record(read_training_image(lq_path), lq_path.name)
            yield gt_path.name, {**_record(read_training_image(gt_path), gt_path.name),
                                 "lq": lq["image"], "lq_bits": lq["image_bits"]}


def _record(img: np.ndarray, name: str) -> dict:
    return {"image": img.astype(np.uint16), "image_bits": np.int32(16 if img.dtype == np.uint16 else 8), "name": name}


def prepare_folder(folder, data_dir, *, paired: bool = False, filename_tmpl: str = "{}",
                   overwrite: bool = False) -> Path:
    """Prepare `folder` as restoration_folder (or restoration_folder/paired) under data_dir in array_record
    format; returns the prepared dataset's directory. An existing one is reused unless overwrite."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    builder = RestorationFolder(config="paired" if paired else "single", data_dir=str(data_dir),
                                file_format="array_record", filename_tmpl=filename_tmpl)
    modes = tfds.download.GenerateMode
    mode = modes.FORCE_REDOWNLOAD if overwrite else modes.REUSE_DATASET_IF_EXISTS
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder),
                                                                             download_mode=mode))
    return Path(str(builder.data_path))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.data.tfds_folder", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the image folder (paired: holding gt/ and lq/)")
    parser.add_argument("--data_dir", required=True, help="where the prepared dataset goes (then data.data_dir)")
    parser.add_argument("--paired", action="store_true", help="gt/ and lq/ sub-folders: restoration_folder/paired")
    parser.add_argument("--filename_tmpl", default="{}", help="paired: LQ stem from GT stem, e.g. '{}x2'")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset prepared there before")
    args = parser.parse_args(argv)
    try:
        path = prepare_folder(args.folder, args.data_dir, paired=args.paired, filename_tmpl=args.filename_tmpl,
                              overwrite=args.overwrite)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    name = "restoration_folder/paired" if args.paired else "restoration_folder"
    print(f"prepared {path}\ntrain with: --set data.source=tfds --set data.name={name} "
          f"--set data.data_dir={args.data_dir}" + (" --set data.lq_key=lq" if args.paired else "")
          + " (and --set data.path='' where the recipe names a folder)"
          + ("" if args.paired else f"; e.g. jrestore train --config dncnn_s25_tfds --set data.data_dir={args.data_dir}"))


if __name__ == "__main__":
    main()
