"""Training image sources: random access to uint8 or uint16 images [H, W, C], C = 1 or 3 after the task's channels.

    folder   any folder of PNG/TIF/BMP/JPG (Train400, a DIV2K folder, exported MRI/CT slices), 8- or 16-bit;
             `path` is the folder or an alias of the reference data (train400, set12, set5, set11, under
             data_dir()); `cache`: "auto" (decode all images up front when the files total < 64 MiB), True or
             False. With `lq_path` it is PAIRED (BasicSR's PairedImageDataset): `path` holds the clean (GT)
             images, `lq_path` the degraded ones (real noise, real low-resolution captures), matched by name:
             the LQ file of GT `0001.png` has the stem filename_tmpl.format("0001") ("{}" by default;
             DIV2K's LR folders: "{}x2"), any image extension. Every GT needs its LQ and every LQ its GT.
    paired   the same as folder with lq_path (lq_path required).
    skimage  the real photographs shipped with scikit-image (offline, no download); `names` picks some.
    tfds     a PREPARED tensorflow-datasets dataset read with tfds.data_source in array_record format (no
             TensorFlow needed); `name`, `split`, `data_dir`, `image_key` ("hr" if present, else "image"),
             `lq_key` (paired: the degraded image's feature, e.g. "lr" of div2k/realistic_*). Folders become
             such datasets with train.data.tfds_folder (`restoration_folder`, `restoration_folder/paired`).
             Never downloads: an unprepared dataset raises FileNotFoundError saying how to prepare it.
    ""       (the default of the runlocal recipes) chosen from what is set: lq_path -> paired, path ->
             folder, name -> tfds, else skimage. So `--set data.path=DIR` alone trains on DIR.

A setting the chosen source does not read (`path` with skimage, `names` with a folder, ...) is a ValueError,
never ignored (`check_data_config`). Paired sources give (lq, gt) pairs; the task's degradation (noise, LR
resize) is then the data's own, and the task gives only the kind, channels and the SR scale.
Sources are picklable (grain sends them to worker processes) and decode lazily unless cached.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jrestore.data.image_io import list_images
from train.data.images import image_size, read_training_image
from train.settings import get

__all__ = ["open_source", "to_channels", "resolve_folder", "resolve_source", "check_data_config", "match_pairs",
           "describe", "SOURCES", "SOURCE_KEYS", "SKIMAGE_DEFAULT", "FOLDER_ALIASES"]

SOURCES = ("folder", "paired", "skimage", "tfds")
FOLDER_ALIASES = {"train400": "denoise/Train400", "set12": "denoise/Set12", "set5": "sr/Set5", "set11": "cs/Set11"}
# skimage.data photographs (grey and RGB); all ship inside the package, so no fetcher download happens
SKIMAGE_DEFAULT = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass",
                   "gravel", "hubble_deep_field", "immunohistochemistry")
_CACHE_AUTO_BYTES = 64 << 20
# the data settings each source reads; the others must be unset (None, "" or the neutral default below)
SOURCE_KEYS = {"folder": ("path", "cache", "lq_path", "filename_tmpl"),
               "paired": ("path", "cache", "lq_path", "filename_tmpl"),
               "skimage": ("names",),
               "tfds": ("name", "split", "data_dir", "image_key", "lq_key")}
# values that mean "not set" for a source that does not read the key (the base config's defaults)
_NEUTRAL = {"split": "train", "filename_tmpl": "{}", "cache": "auto"}


def to_channels(img: np.ndarray, channels: str) -> np.ndarray:
    """uint8/uint16 [H, W, 1 or 3] -> same dtype [H, W, 1] ("y": MATLAB Y of RGB, grey kept) or [H, W, 3] ("rgb").

    Y of uint8 RGB is MATLAB rgb2ycbcr's rounded uint8 Y (the evaluation's own); of uint16 RGB the same
    formula, 16 + (65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in [0, 1], rounded to 16-bit levels.
    """
    if img.ndim == 2:
        img = img[..., None]
    if channels == "rgb":
        return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
    if img.shape[-1] == 1:
        return img
    if img.dtype == np.uint16:
        x = img.astype(np.float64) / 65535.0
        y = (16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0
        return np.floor(y * 65535.0 + 0.5).astype(np.uint16)[..., None]
    from jrestore.evaluation.protocol_data import _y_matlab_uint8  # the evaluation's own Y: train on what is scored

    return np.rint(_y_matlab_uint8(img) * 255.0).astype(np.uint8)[..., None]


class _Cached:
    """Decoded images (or (lq, gt) pairs) in memory (small sets: Train400 is 13 MB decoded)."""

    def __init__(self, images: list, names: list[str], paired: bool = False, info: dict | None = None):
        self.images, self.names, self.paired = images, names, paired
        self.info = info or {}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i]

    def sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each clean (GT) image."""
        return [(im[1] if self.paired else im).shape[:2] for im in self.images]


class _Folder:
    """Images (or (lq, gt) pairs) decoded on each access (large folders such as DIV2K: 800 2K images are
    5 GB decoded)."""

    def __init__(self, paths: list[Path], channels: str, lq_paths: list[Path] | None = None, info: dict | None = None):
        self.paths, self.channels, self.lq_paths = paths, channels, lq_paths
        self.paired = lq_paths is not None
        self.names = [p.name for p in paths]
        self.info = info or {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        gt = to_channels(read_training_image(self.paths[i]), self.channels)
        if not self.paired:
            return gt
        return to_channels(read_training_image(self.lq_paths[i]), self.channels), gt

    def sizes(self) -> list[tuple[int, int]]:
        return [image_size(p) for p in self.paths]  # header only: no decode


class _Tfds:
    """A tfds ArrayRecordDataSource; each record's `key` feature is a uint8 or uint16 image (records of
    train.data.tfds_folder carry `<key>_bits`: 8-bit images are stored as uint16 there), `lq_key` the degraded one."""

    def __init__(self, ds, key: str, channels: str, label: str, lq_key: str | None = None, info: dict | None = None):
        self.ds, self.key, self.channels, self.lq_key = ds, key, channels, lq_key
        self.paired = lq_key is not None
        self.names = _LazyNames(label, len(ds))
        self.info = info or {}

    def __len__(self) -> int:
        return len(self.ds)

    def _image(self, record, key: str, i: int) -> np.ndarray:
        img = np.asarray(record[key])
        if f"{key}_bits" in record and int(record[f"{key}_bits"]) == 8:
            img = img.astype(np.uint8)
        if img.dtype not in (np.uint8, np.uint16) or img.ndim not in (2, 3):
            raise ValueError(f"image_key: {self.names[i]} feature {key!r} is {img.dtype} {img.shape}; expected a "
                             f"uint8 or uint16 image [H, W, C]")
        return to_channels(img, self.channels)

    def __getitem__(self, i: int):
        record = self.ds[i]
        gt = self._image(record, self.key, i)
        return (self._image(record, self.lq_key, i), gt) if self.paired else gt

    def sizes(self) -> list[tuple[int, int]]:
        gt = self[0][1] if self.paired else self[0]
        return [gt.shape[:2]]  # decoding every record is too slow; later records are checked when drawn


class _LazyNames:
    def __init__(self, label: str, n: int):
        self.label, self.n = label, n

    def __getitem__(self, i: int) -> str:
        return f"{self.label}[{i}]"

    def __len__(self) -> int:
        return self.n


def _is_set(cfg, key) -> bool:
    value = get(cfg, key)
    return value is not None and value != _NEUTRAL.get(key) and not (isinstance(value, (tuple, list)) and not value)


def resolve_source(cfg) -> str:
    """The source cfg.source names, or for "" (unset) the one its settings imply: lq_path -> paired,
    path -> folder, name -> tfds, else skimage."""
    source = get(cfg, "source")
    if source is None:
        source = ("paired" if _is_set(cfg, "lq_path") else "folder" if _is_set(cfg, "path") else
                  "tfds" if _is_set(cfg, "name") else "skimage")
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {list(SOURCES)} or '' (chosen from the settings), got {source!r}")
    return source


def check_data_config(cfg, task=None) -> str:
    """The source cfg resolves to, after checking that every data setting takes effect: a setting the source
    does not read is one ValueError naming it (and the source's own settings); so is a paired source for a
    cs task (ISTA-Net measures clean blocks itself). Reads no file."""
    source = resolve_source(cfg)
    reads = SOURCE_KEYS[source]
    foreign = [k for keys in SOURCE_KEYS.values() for k in keys if k not in reads and _is_set(cfg, k)]
    for key in dict.fromkeys(foreign):
        how = ("; leave data.source unset ('') to choose the source from the settings"
               if get(cfg, "source") is not None else "")
        value = get(cfg, key)
        unset = f" (--set data.{key}=\'\')" if isinstance(value, str) else ""
        raise ValueError(f"data.{key}: set to {value!r}, but the {source!r} source does not read it (it reads "
                         f"{', '.join(reads)}); unset it{unset} or pick the source that reads it{how}")
    if source in ("folder", "paired") and not _is_set(cfg, "lq_path") and _is_set(cfg, "filename_tmpl"):
        raise ValueError(f"data.filename_tmpl: {get(cfg, 'filename_tmpl')!r} names LQ files, but no data.lq_path "
                         f"is set (an unpaired folder)")
    paired = _is_set(cfg, "lq_key") if source == "tfds" else source in ("folder", "paired") and _is_set(cfg, "lq_path")
    kind = get(task, "kind") if task is not None and hasattr(task, "get") else getattr(task, "kind", None)
    if paired and kind == "cs":
        raise ValueError("data.lq_path / data.lq_key: a cs task trains on clean blocks (the model measures them); "
                         "a paired source cannot take effect there")
    return source


def resolve_folder(path) -> Path:
    """A folder path, or an alias (train400, set12, set5, set11) under jrestore.data.paths.data_dir()."""
    if not path:
        raise ValueError(f"path: a folder source needs `path` (a folder, or one of {sorted(FOLDER_ALIASES)})")
    alias = FOLDER_ALIASES.get(str(path).lower())
    if alias is not None:
        from jrestore.data.paths import data_dir

        return data_dir(required=True) / alias
    return Path(path).expanduser()


def match_pairs(gt_paths: list[Path], lq_paths: list[Path], filename_tmpl: str = "{}") -> list[Path]:
    """The LQ path of each GT path (BasicSR's paired_paths_from_folder, by stem so extensions may differ):
    LQ stem = filename_tmpl.format(GT stem). Unmatched files on either side, or two files with one stem,
    are one ValueError listing some."""
    if "{}" not in filename_tmpl:
        raise ValueError(f"filename_tmpl: expected a template with one '{{}}' for the GT name, got {filename_tmpl!r}")

    def by_stem(paths, what):
        found: dict[str, Path] = {}
        for p in paths:
            if p.stem in found:
                raise ValueError(f"{what}: two images named {p.stem!r} ({found[p.stem].name}, {p.name}); names must "
                                 f"be unique up to the extension")
            found[p.stem] = p
        return found

    lq = by_stem(lq_paths, "lq_path")
    by_stem(gt_paths, "path")
    wanted = {filename_tmpl.format(p.stem): p for p in gt_paths}
    missing = [f"{g.name} (no {s}.*)" for s, g in wanted.items() if s not in lq]
    extra = [p.name for s, p in lq.items() if s not in wanted]
    if missing or extra:
        parts = [f"{len(missing)} GT image(s) without an LQ image, e.g. {', '.join(missing[:3])}"] if missing else []
        parts += [f"{len(extra)} LQ image(s) without a GT image, e.g. {', '.join(extra[:3])}"] if extra else []
        raise ValueError(f"lq_path: the folders do not pair up by name (filename_tmpl {filename_tmpl!r}): "
                         f"{'; '.join(parts)}")
    return [lq[s] for s in wanted]


def _folder(cfg, channels: str, paired: bool = False):
    if paired and not _is_set(cfg, "lq_path"):
        raise ValueError("lq_path: the paired source needs `lq_path` (the folder of degraded images) beside "
                         "`path` (the clean ones)")
    folder = resolve_folder(get(cfg, "path"))
    paths = list_images(folder)  # FileNotFoundError for a missing folder, ValueError for an empty one
    lq_paths, info = None, {"source": "folder", "path": str(folder.resolve()), "images": len(paths)}
    if _is_set(cfg, "lq_path"):
        lq_folder = resolve_folder(get(cfg, "lq_path"))
        lq_paths = match_pairs(paths, list_images(lq_folder), get(cfg, "filename_tmpl", "{}"))
        info.update(source="paired", lq_path=str(lq_folder.resolve()))
    cache = get(cfg, "cache", "auto")
    if cache not in ("auto", True, False):
        raise ValueError(f"cache: expected 'auto', True or False, got {cache!r}")
    if cache == "auto":
        cache = sum(p.stat().st_size for p in paths + (lq_paths or [])) < _CACHE_AUTO_BYTES
    src = _Folder(paths, channels, lq_paths, info)
    if cache:
        return _Cached([src[i] for i in range(len(src))], src.names, src.paired, info)
    return src


def _skimage(cfg, channels: str):
    import skimage.data

    names = list(get(cfg, "names", None) or SKIMAGE_DEFAULT)
    available = sorted(n for n in SKIMAGE_DEFAULT + ("retina", "cell", "page", "text", "microaneurysms"))
    bad = [n for n in names if n not in available]
    if bad:
        raise ValueError(f"names: unknown skimage images {bad}; expected some of {available}")
    return _Cached([to_channels(np.asarray(getattr(skimage.data, n)(), np.uint8), channels) for n in names], names,
                   info={"source": "skimage", "images": len(names)})


def _tfds(cfg, channels: str):
    import tensorflow_datasets as tfds

    import train.data.tfds_folder  # noqa: F401  registers the restoration_folder builder (data_source finds it)

    name, split, ddir = get(cfg, "name"), get(cfg, "split", "train"), get(cfg, "data_dir")
    if not name:
        raise ValueError("name: a tfds source needs `name`, e.g. 'div2k/bicubic_x2' or 'restoration_folder'")
    if str(name).split("/")[0] == "restoration_folder":
        paired = " --paired" if str(name).endswith("/paired") else ""
        how = f"prepare an image folder once with `python -m train.data.tfds_folder FOLDER{paired} --data_dir DIR`"
    else:
        how = (f"prepare it once in array_record format (needs TensorFlow and the network): pip install "
               f"tensorflow-cpu; tfds build {name} --file_format=array_record{f' --data_dir={ddir}' if ddir else ''}")
    how += "; then pass that data_dir"
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
    first = ds[0]
    key = get(cfg, "image_key") or ("hr" if "hr" in first else "image")
    lq_key = get(cfg, "lq_key")
    for what, k in (("image_key", key), ("lq_key", lq_key)):
        if k is not None and k not in first:
            raise ValueError(f"{what}: {name!r} records have {sorted(first)}, not {k!r}")
    info = {"source": "tfds", "name": name, "split": split, "data_dir": str(ddir or "~/tensorflow_datasets"),
            "images": len(ds), **({"lq_key": lq_key} if lq_key else {})}
    return _Tfds(ds, key, channels, f"{name}:{split}", lq_key, info)


def open_source(cfg, channels: str = "y", task=None):
    """The source cfg selects (see the module docstring); len(src), src[i] -> image uint8/uint16 [H, W, C] or,
    when src.paired, a pair (lq, gt); src.names[i], src.sizes() (GT sizes), src.info (what it reads, for
    reports: source, path or name, images)."""
    source = check_data_config(cfg, task)
    if source == "paired":
        return _folder(cfg, channels, paired=True)
    return {"folder": _folder, "skimage": _skimage, "tfds": _tfds}[source](cfg, channels)


def describe(cfg) -> dict:
    """The fields that identify a source's content (for the iterator-state fingerprint)."""
    source = resolve_source(cfg)
    source = "folder" if source == "paired" else source  # one reader: the lq_path decides
    keys = {"folder": ("path",), "skimage": ("names",), "tfds": ("name", "split", "image_key")}[source]
    paired = {"folder": ("lq_path", "filename_tmpl"), "tfds": ("lq_key",)}.get(source, ())
    # the paired keys only when set, so unpaired runs keep the fingerprints (and checkpoints) they had
    return {"source": source, **{k: get(cfg, k) for k in keys}, **{k: get(cfg, k) for k in paired if _is_set(cfg, k)}}
