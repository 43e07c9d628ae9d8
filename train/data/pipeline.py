"""The grain pipeline: make_train_iterator, TrainIterator (resumable), make_val_set, benchmark_pipeline.

Order of the data (a pure function of the images, seed, global_batch_size, patches_per_image and num_epochs):
    item i in [0, N * patches_per_image) is patch (i % patches_per_image) of image i // patches_per_image;
    each epoch visits every item once in grain's MapDataset.shuffle order (seeded by `seed`, reshuffled per
    epoch); global position g = epoch * items + rank within the epoch; global batch k holds positions
    [k * B, (k + 1) * B). The pair for position g comes from np.random.default_rng([seed, epoch, item]), so
    it depends on neither the process count, the worker count nor where a run resumed.
Sharding: with process_count P, B_local = B / P and process p gets rows [p * B_local, (p + 1) * B_local) of
    every global batch, so concatenating the P processes' k-th batches gives the 1-process k-th batch.
    (Implemented as batches of B_local positions, of which process p takes every P-th, from the p-th.)
State: {"format", "next_batch", "fingerprint", "source"}; next_batch counts global batches, so a state saved by
    any process of a P-process run restores on any process count or worker count. "source" (what the data
    is read from: it.source_info) is for people and reports, and is not compared on restore.
"""
from __future__ import annotations

import hashlib
import json
import time

import grain
import numpy as np

from train.data.examples import crop_sizes, make_example, make_paired_example, parse_task
from train.data.sources import describe, open_source, resolve_folder
from train.settings import get

__all__ = ["make_train_iterator", "make_val_set", "check_val_config", "val_protocol", "benchmark_pipeline", "TrainIterator", "DATA_KEYS"]

DATA_KEYS = ("source", "path", "cache", "lq_path", "filename_tmpl", "names", "name", "split", "data_dir", "image_key",
             "lq_key", "patch_size",
             "patches_per_image", "augment", "num_epochs", "worker_count", "num_threads", "prefetch")
_STATE_FORMAT = "jrestore.train.data/1"


def _int(value, name: str, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


class _Example:
    """map_with_index transform: (global position g, item) -> one training pair (see the module docstring)."""

    def __init__(self, source, spec, crop: int, augment: bool, seed: int, items: int, per_image: int):
        self.source, self.spec, self.crop, self.augment = source, spec, crop, augment
        self.seed, self.items, self.per_image = seed, items, per_image

    def __call__(self, g: int, item: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, g // self.items, int(item)])  # (seed, epoch, record)
        image = int(item) // self.per_image
        if self.source.paired:
            lq, gt = self.source[image]
            return make_paired_example(lq, gt, rng, self.spec, self.crop, self.augment, self.source.names[image])
        return make_example(self.source[image], rng, self.spec, self.crop, self.augment, self.source.names[image])


class TrainIterator:
    """Iterator of local batches {"input": float32 [B_local, h, w, C], "target": float32 [B_local, H, W, C]}.

    get_state() -> JSON-serialisable dict; set_state(dict | JSON str | bytes) continues with exactly the
    batches that followed get_state(), on this object or a fresh one built with the same arguments.
    source_info: what the batches are read from, e.g. {"source": "folder", "path": "/abs/dir", "images": 8}
    ("paired": also lq_path; "tfds": name, split, data_dir), for start banners and checkpoints.
    Raises StopIteration after num_batches (None: infinite). Close it (or use `with`) to stop workers.
    """

    def __init__(self, batches: grain.MapDataset, fingerprint: str, num_batches: int | None, worker_count: int,
                 read_options: grain.ReadOptions, worker_buffer: int, source_info: dict | None = None):
        self._batches, self.fingerprint, self.num_batches = batches, fingerprint, num_batches
        self.source_info = dict(source_info or {})
        self._workers, self._read, self._worker_buffer = worker_count, read_options, worker_buffer
        self._it, self._next = None, 0

    def _start(self) -> None:
        ds = (self._batches[self._next:] if self._next else self._batches).to_iter_dataset(self._read)
        if self._workers:
            from absl import flags

            if not flags.FLAGS.is_parsed():  # grain's worker start-up reads its absl flags; a trainer using
                flags.FLAGS.mark_as_parsed()  # absl.app has parsed them already, pytest and scripts have not
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self._workers,
                                                             per_worker_buffer_size=self._worker_buffer))
        self._it = iter(ds)

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._it is None:  # started lazily, so set_state before the first batch spawns no workers twice
            self._start()
        batch = next(self._it)
        self._next += 1
        return batch

    def get_state(self) -> dict:
        return {"format": _STATE_FORMAT, "next_batch": self._next, "fingerprint": self.fingerprint,
                "source": self.source_info}

    def set_state(self, state) -> None:
        if isinstance(state, (bytes, str)):
            state = json.loads(state)
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError(f"state: expected a dict from TrainIterator.get_state() (format {_STATE_FORMAT!r}), "
                             f"got {state!r:.200}")
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(f"state: saved for a different pipeline (fingerprint {state['fingerprint']} != "
                             f"{self.fingerprint}): the data, task, patch, seed, batch size or epochs changed")
        self.close()
        self._next = _int(state["next_batch"], "state.next_batch", 0)

    def close(self) -> None:
        if self._it is not None and hasattr(self._it, "close"):
            self._it.close()
        self._it = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_train_iterator(data_cfg, task, global_batch_size: int, seed: int = 0, process_index: int = 0,
                        process_count: int = 1) -> TrainIterator:
    """This process's share of the training batches (see the module docstring for order and sharding).

    data_cfg (dict or ConfigDict): source ("folder" | "paired" | "skimage" | "tfds", or "" to choose from the
    settings: see train.data.sources) and its fields; patch_size (the TARGET patch: HR size for sr, a multiple of scale; unset or = block for cs);
    patches_per_image (1); augment (True: the 8 flips/rotations); num_epochs (None: infinite); worker_count
    (0: in this process); num_threads (2: threads computing batches); prefetch (4: batches buffered).
    task: see train.data.examples (denoise / sr / cs).
    Returns a TrainIterator of {"input": float32 [B/P, h, w, C], "target": float32 [B/P, H, W, C]}.
    """
    unknown = sorted(set(data_cfg.keys()) - set(DATA_KEYS))
    if unknown:
        raise ValueError(f"data_cfg: unknown keys {unknown}; valid keys are {list(DATA_KEYS)}")
    spec = parse_task(task)
    batch = _int(global_batch_size, "global_batch_size", 1)
    count = _int(process_count, "process_count", 1)
    index = _int(process_index, "process_index", 0)
    if index >= count:
        raise ValueError(f"process_index: expected 0 <= process_index < process_count = {count}, got {index}")
    if batch % count:
        raise ValueError(f"global_batch_size: must be divisible by process_count = {count}, got {batch}")
    seed = _int(seed, "seed", 0)
    if seed >= 2 ** 32:
        raise ValueError(f"seed: expected an integer in [0, 2**32), got {seed}")
    per_image = _int(get(data_cfg, "patches_per_image", 1), "patches_per_image", 1)
    epochs = get(data_cfg, "num_epochs")
    epochs = None if epochs is None else _int(epochs, "num_epochs", 1)
    workers = _int(get(data_cfg, "worker_count", 0), "worker_count", 0)
    threads = _int(get(data_cfg, "num_threads", 2), "num_threads", 0)
    prefetch = _int(get(data_cfg, "prefetch", 4), "prefetch", 1)
    augment = bool(get(data_cfg, "augment", True))
    crop, _ = crop_sizes(spec, get(data_cfg, "patch_size"))

    source = open_source(data_cfg, spec.channels, spec)
    small = [f"{source.names[i]} ({h}x{w})" for i, (h, w) in enumerate(source.sizes()) if min(h, w) < crop]
    if small:
        raise ValueError(f"patch_size: {len(small)} image(s) are smaller than the {crop}x{crop} crop, e.g. "
                         f"{', '.join(small[:3])}; use a smaller patch_size or drop them")
    items = len(source) * per_image
    num_batches = None if epochs is None else items * epochs // batch
    if num_batches == 0:
        raise ValueError(f"global_batch_size: {batch} is more than the {items * epochs} patches of "
                         f"{epochs} epoch(s); lower it or raise num_epochs / patches_per_image")

    local = batch // count
    ds = grain.MapDataset.range(items).shuffle(seed=seed).repeat(epochs)
    ds = ds.map_with_index(_Example(source, spec, crop, augment, seed, items, per_image))
    ds = ds.batch(local, drop_remainder=True)  # chunk c = rows [(c % P) * B_local, ...) of global batch c // P
    if num_batches is not None:
        ds = ds[:num_batches * count]  # no partial global batch at the end
    ds = ds[index::count]
    ident = {"data": describe(data_cfg), "records": len(source), "task": repr(spec), "patch": crop,
             "per_image": per_image, "augment": augment, "epochs": epochs, "batch": batch, "seed": seed}
    fingerprint = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    read = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch)
    return TrainIterator(ds, fingerprint, num_batches, workers, read, prefetch, source.info)


def val_protocol(val_cfg, task) -> str:
    """The evaluation protocol of a validation config: val_cfg.protocol, else the task's published one
    (kair_dncnn for denoise, ista_net for cs, selfexsr for MATLAB-bicubic SR, yjn870 for PIL-bicubic SR)."""
    spec = parse_task(task)
    default = {"denoise": "kair_dncnn", "cs": "ista_net",
               "sr": "selfexsr" if spec.lr_resize == "matlab" else "yjn870"}[spec.kind]
    return get(val_cfg, "protocol", default)


def make_val_set(val_cfg, task) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, input float32 [h, w, C], target float32 [H, W, C]) per image, prepared by
    jrestore.evaluation.protocol_data.load_samples (the published test protocols), so deterministic.

    val_cfg: source ("folder", the only kind; "" too); path (a folder or an alias: set12, set5, set11, train400);
    protocol (default: kair_dncnn for denoise, ista_net for cs, selfexsr (MATLAB LR) or yjn870 (PIL) for sr
    after task.lr_resize); sigma (denoise; default the task's fixed sigma, required for a blind range); limit
    (the first N images; 0: all). Channels follow task.channels ("y": one channel, which for RGB images is
    the protocol's own Y or grey, e.g. MATLAB Y for selfexsr).
    Paired (real degradations): lq_path (the degraded images of the `path` images, matched by name with
    filename_tmpl, as the paired training source); input = LQ / peak, target = GT / peak (8 or 16 bits; an SR
    GT cropped to scale x the LQ), channels as in training; the protocol then only scores (kair_dncnn: PSNR
    on every pixel; selfexsr: Y, scale-pixel border), and sigma cannot take effect.
    """
    from jrestore.evaluation.protocol_data import load_samples

    keys = ("source", "path", "protocol", "sigma", "limit", "lq_path", "filename_tmpl")
    unknown = sorted(set(val_cfg.keys()) - set(keys))
    if unknown:
        raise ValueError(f"val_cfg: unknown keys {unknown}; valid keys are {list(keys)}")
    if get(val_cfg, "source", "folder") != "folder":
        raise ValueError(f"val_cfg.source: expected 'folder' (a test-set folder), got {val_cfg.get('source')!r}")
    spec = parse_task(task)
    folder = resolve_folder(get(val_cfg, "path"))
    protocol = val_protocol(val_cfg, spec)
    sigma = get(val_cfg, "sigma")
    limit = _int(get(val_cfg, "limit", 0), "limit", 0)
    if get(val_cfg, "lq_path") is not None:
        if sigma is not None:
            raise ValueError(f"val_cfg.sigma: {sigma!r} cannot take effect on a paired validation set (its noise is "
                             f"the data's own); unset it")
        return _paired_val_set(folder, resolve_folder(get(val_cfg, "lq_path")), get(val_cfg, "filename_tmpl", "{}"),
                               spec, limit)
    if get(val_cfg, "filename_tmpl", "{}") != "{}":
        raise ValueError(f"val_cfg.filename_tmpl: {get(val_cfg, 'filename_tmpl')!r} names LQ files, but no "
                         f"val_cfg.lq_path is set")
    if spec.kind == "denoise" and sigma is None:
        if spec.sigma[0] != spec.sigma[1]:
            raise ValueError(f"sigma: the task trains on a sigma range {list(spec.sigma)}; give val_cfg.sigma")
        sigma = spec.sigma[0]
    samples = load_samples(folder, protocol, kind=spec.kind, channels=1 if spec.channels == "y" else 3,
                           scale=spec.scale or 1, sigma=sigma)
    if limit:
        samples = samples[:limit]
    return [(s.name, s.inputs, s.target) for s in samples]


def check_val_config(val_cfg) -> None:
    """A paired validation setting with validation off cannot take effect: one ValueError (reads no file)."""
    if get(val_cfg, "source") is None:
        for key, neutral in (("lq_path", None), ("filename_tmpl", "{}")):
            if get(val_cfg, key, neutral) != neutral:
                raise ValueError(f"val.{key}: set to {get(val_cfg, key)!r}, but validation is off (val.source is "
                                 f"''); set val.source=folder and val.path to the clean images")


def _paired_val_set(gt_folder, lq_folder, filename_tmpl: str, spec, limit: int):
    """(name, LQ float32 [h, w, C], GT float32 [H, W, C]) of matched files (see make_val_set)."""
    from jrestore.data.image_io import list_images
    from train.data.images import read_training_image
    from train.data.sources import match_pairs, to_channels

    if spec.kind == "cs":
        raise ValueError("val_cfg.lq_path: a cs model measures clean blocks itself; a paired set cannot take effect")
    gt_paths = list_images(gt_folder)
    lq_paths = match_pairs(gt_paths, list_images(lq_folder), filename_tmpl)
    scale = spec.scale if spec.kind == "sr" else 1
    out = []
    for gt_path, lq_path in list(zip(gt_paths, lq_paths))[:limit or None]:
        gt = to_channels(read_training_image(gt_path), spec.channels)
        lq = to_channels(read_training_image(lq_path), spec.channels)
        (h, w), (gh, gw) = lq.shape[:2], gt.shape[:2]
        if not (h * scale <= gh < (h + 1) * scale and w * scale <= gw < (w + 1) * scale):
            raise ValueError(f"val_cfg.lq_path: {gt_path.name}: GT {gh}x{gw} is not "
                             f"{f'{scale}x ' if scale > 1 else ''}the LQ size {h}x{w}")
        peak_lq, peak_gt = (65535.0 if x.dtype == np.uint16 else 255.0 for x in (lq, gt))
        out.append((gt_path.name, (lq / peak_lq).astype(np.float32),
                    (gt[:h * scale, :w * scale] / peak_gt).astype(np.float32)))
    return out


def benchmark_pipeline(data_cfg, task, global_batch_size: int, steps: int = 50, *, seed: int = 0,
                       warmup: int = 2, process_index: int = 0, process_count: int = 1) -> float:
    """Local batches per second over `steps` batches, after `warmup` batches (worker start-up excluded)."""
    with make_train_iterator(data_cfg, task, global_batch_size, seed, process_index, process_count) as it:
        for _ in range(warmup):
            next(it)
        start = time.perf_counter()
        for _ in range(_int(steps, "steps", 1)):
            next(it)
        return steps / (time.perf_counter() - start)
