"""Training image sources: random access to clean uint8 images [H, W, C], C = 1 or 3 after the task's channels.

    folder   any folder of PNG/TIF/BMP/JPG (Train400, a DIV2K folder, exported MRI/CT slices); `path` is the
             folder or an alias of the reference data (train400, set12, set5, set11, under data_dir());
             `cache`: "auto" (decode all images up front when the files total < 64 MiB), True or False.
    skimage  the real photographs shipped with scikit-image (offline, no download); `names` picks some.
    tfds     a PREPARED tensorflow-datasets dataset read with tfds.data_source in array_record format (no
             TensorFlow needed); `name`, `split`, `data_dir`, `image_key` ("hr" if present, else "image").
             Never downloads: an unprepared dataset raises FileNotFoundError saying how to prepare it.

Sources are picklable (grain sends them to worker processes) and decode lazily unless cached.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jrestore.data.image_io import list_images, read_image
from train.settings import get

__all__ = ["open_source", "to_channels", "resolve_folder", "SOURCES", "SKIMAGE_DEFAULT", "FOLDER_ALIASES"]

SOURCES = ("folder", "skimage", "tfds")
FOLDER_ALIASES = {"train400": "denoise/Train400", "set12": "denoise/Set12", "set5": "sr/Set5", "set11": "cs/Set11"}
# skimage.data photographs (grey and RGB); all ship inside the package, so no fetcher download happens
SKIMAGE_DEFAULT = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass",
                   "gravel", "hubble_deep_field", "immunohistochemistry")
_CACHE_AUTO_BYTES = 64 << 20


def to_channels(img: np.ndarray, channels: str) -> np.ndarray:
    """uint8 [H, W, 1 or 3] -> uint8 [H, W, 1] ("y": MATLAB Y of RGB, grey kept) or [H, W, 3] ("rgb")."""
    if img.ndim == 2:
        img = img[..., None]
    if channels == "rgb":
        return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
    if img.shape[-1] == 1:
        return img
    from jrestore.evaluation.protocol_data import _y_matlab_uint8  # the evaluation's own Y: train on what is scored

    return np.rint(_y_matlab_uint8(img) * 255.0).astype(np.uint8)[..., None]


class _Cached:
    """Decoded images in memory (small sets: Train400 is 13 MB decoded)."""

    def __init__(self, images: list[np.ndarray], names: list[str]):
        self.images, self.names = images, names

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]

    def sizes(self) -> list[tuple[int, int]]:
        return [im.shape[:2] for im in self.images]


class _Folder:
    """Images decoded on each access (large folders such as DIV2K: 800 2K images are 5 GB decoded)."""

    def __init__(self, paths: list[Path], channels: str):
        self.paths, self.channels = paths, channels
        self.names = [p.name for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return to_channels(read_image(self.paths[i]), self.channels)

    def sizes(self) -> list[tuple[int, int]]:
        from PIL import Image

        out = []
        for p in self.paths:  # header only: no decode
            with Image.open(p) as im:
                out.append((im.height, im.width))
        return out


class _Tfds:
    """A tfds ArrayRecordDataSource; each record's `key` feature is a uint8 image."""

    def __init__(self, ds, key: str, channels: str, label: str):
        self.ds, self.key, self.channels = ds, key, channels
        self.names = _LazyNames(label, len(ds))

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> np.ndarray:
        return to_channels(np.asarray(self.ds[i][self.key], dtype=np.uint8), self.channels)

    def sizes(self) -> list[tuple[int, int]]:
        return [self[0].shape[:2]]  # decoding every record is too slow; later records are checked when drawn


class _LazyNames:
    def __init__(self, label: str, n: int):
        self.label, self.n = label, n

    def __getitem__(self, i: int) -> str:
        return f"{self.label}[{i}]"

    def __len__(self) -> int:
        return self.n


def resolve_folder(path) -> Path:
    """A folder path, or an alias (train400, set12, set5, set11) under jrestore.data.paths.data_dir()."""
    if not path:
        raise ValueError(f"path: a folder source needs `path` (a folder, or one of {sorted(FOLDER_ALIASES)})")
    alias = FOLDER_ALIASES.get(str(path).lower())
    if alias is not None:
        from jrestore.data.paths import data_dir

        return data_dir(required=True) / alias
    return Path(path).expanduser()


def _folder(cfg, channels: str):
    folder = resolve_folder(get(cfg, "path"))
    paths = list_images(folder)  # FileNotFoundError for a missing folder, ValueError for an empty one
    cache = get(cfg, "cache", "auto")
    if cache not in ("auto", True, False):
        raise ValueError(f"cache: expected 'auto', True or False, got {cache!r}")
    if cache == "auto":
        cache = sum(p.stat().st_size for p in paths) < _CACHE_AUTO_BYTES
    if cache:
        return _Cached([to_channels(read_image(p), channels) for p in paths], [p.name for p in paths])
    return _Folder(paths, channels)


def _skimage(cfg, channels: str):
    import skimage.data

    names = list(get(cfg, "names", None) or SKIMAGE_DEFAULT)
    available = sorted(n for n in SKIMAGE_DEFAULT + ("retina", "cell", "page", "text", "microaneurysms"))
    bad = [n for n in names if n not in available]
    if bad:
        raise ValueError(f"names: unknown skimage images {bad}; expected some of {available}")
    return _Cached([to_channels(np.asarray(getattr(skimage.data, n)(), np.uint8), channels) for n in names], names)


def _tfds(cfg, channels: str):
    import tensorflow_datasets as tfds

    name, split, ddir = get(cfg, "name"), get(cfg, "split", "train"), get(cfg, "data_dir")
    if not name:
        raise ValueError("name: a tfds source needs `name`, e.g. 'div2k/bicubic_x2' or 'cifar10'")
    how = (f"prepare it once in array_record format (needs TensorFlow and the network): pip install "
           f"tensorflow-cpu; tfds build {name} --file_format=array_record"
           f"{f' --data_dir={ddir}' if ddir else ''}; then pass that data_dir")
    try:
        ds = tfds.data_source(name, split=split, data_dir=ddir, builder_kwargs={"file_format": "array_record"},
                              download=False)  # never download: with no network that hangs ~200 s
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(f"name: {name!r} is not a tensorflow-datasets dataset (see tfds.list_builders())") from None
    except (KeyError, FileNotFoundError, AssertionError, NotImplementedError) as err:
        raise FileNotFoundError(f"tfds dataset {name!r} split {split!r} is not prepared in array_record format "
                                f"under data_dir={ddir or '~/tensorflow_datasets'} ({err}); {how}") from None
    if len(ds) == 0:
        raise FileNotFoundError(f"tfds dataset {name!r} split {split!r} is empty; {how}")
    key = get(cfg, "image_key") or ("hr" if "hr" in ds[0] else "image")
    if key not in ds[0]:
        raise ValueError(f"image_key: {name!r} records have {sorted(ds[0])}, not {key!r}")
    return _Tfds(ds, key, channels, f"{name}:{split}")


def open_source(cfg, channels: str = "y"):
    """The source named by cfg.source; len(src), src[i] -> uint8 [H, W, C], src.names[i], src.sizes()."""
    source = get(cfg, "source", "folder")
    opener = {"folder": _folder, "skimage": _skimage, "tfds": _tfds}.get(source)
    if opener is None:
        raise ValueError(f"source: expected one of {list(SOURCES)}, got {source!r}")
    return opener(cfg, channels)


def describe(cfg) -> dict:
    """The fields that identify a source's content (for the iterator-state fingerprint)."""
    keys = {"folder": ("path",), "skimage": ("names",), "tfds": ("name", "split", "image_key")}
    source = get(cfg, "source", "folder")
    return {"source": source, **{k: get(cfg, k) for k in keys.get(source, ())}}
