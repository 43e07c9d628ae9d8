"""`jrestore restore`: restore a real image (or a folder of them) of any size with a model and its weights.

Large images go through overlapping tiles (`--tile`, default 512 input pixels) so memory stays bounded; the
tiled result equals the whole-image one for every model with a finite receptive field. Colour handling:
a one-channel model on an RGB image restores MATLAB-YCbCr Y and keeps the chroma (bicubic-upscaled for SR),
and says so once on stderr; `--per-channel` restores R, G and B each with the model instead; a
three-channel model on a grey image sees it replicated. Bit depth: 8-bit images give 8-bit outputs; 16-bit
grey and RGB PNG / TIFF files are restored at full precision and written as 16-bit PNG / TIFF. Outputs are
written atomically (temporary file in the same folder, then rename), never over an existing file or the
input unless --overwrite is given.
An int8 file (`jrestore quantize`, FILE.int8.safetensors) as --weights runs the int8 model: JAX through AQT's
int8 convolutions, --framework torch through torch.ao's converted module (x86 / fbgemm).
A folder is restored file by file: a bad file is one line `jrestore restore: FILE: reason` and the rest go on;
the summary and exit status 1 come at the end. Two inputs with one output name are refused before any work.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags


def add_parser(p):
    p.add_argument("--model", help="registered model name, or 'bicubic'; optional when --weights records it "
                                    "(a model file or training workdir)")
    p.add_argument("--weights", help="weights file (.pth/.pt/.pkl with weights_only=True, .safetensors, MatConvNet "
                                      ".mat) or a training workdir (its model.safetensors; WORKDIR:best for "
                                      "best.safetensors)")
    p.add_argument("--scale", type=int, help="SR factor")
    p.add_argument("--sigma", type=float, help="noise level on the 0-255 scale (FFDNet's noise map)")
    p.add_argument("--cs-ratio", type=int, help="CS sampling ratio in percent (the image is measured, then reconstructed)")
    p.add_argument("--cs-matrices", help="folder with phi_0_{R}_1089.mat and Initialization_Matrix_{R}.mat")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="constructor argument (repeatable)")
    p.add_argument("--framework", choices=("jax", "torch"), default="jax")
    p.add_argument("--per-channel", action="store_true",
                   help="one-channel model on a colour image: restore R, G and B separately (default: restore the "
                        "luminance Y of YCbCr and keep the chroma)")
    p.add_argument("--tile", type=int, default=512, help="tile size in input pixels (0: whole image at once)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (even the input itself)")
    p.add_argument("input", help="an image file or a folder of images")
    p.add_argument("output", help="output image file (for a folder input: output folder)")


def run(args) -> int:
    from tqdm import tqdm
    from jrestore._io import check_output_folder
    from jrestore.data.image_io import list_images
    from jrestore.inference import build_task

    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise FileNotFoundError(f"input: no such file or folder {src}")
    if args.tile < 0:
        raise ValueError(f"--tile: expected 0 (no tiling) or a positive size, got {args.tile}")
    jobs = _jobs(src, dst, list_images)
    _check_collisions(jobs)
    for _, out in jobs:
        _check_output(out, args.overwrite, [s for s, _ in jobs])
    # before the model loads: a missing, read-only or non-folder destination is one line, not a lost run
    if src.is_dir():
        check_output_folder(dst, "output", create=True)
    else:
        check_output_folder(jobs[0][1].parent, "output")
    pin_full_precision()
    args.model, args.weights = resolve_model_flags(args.model, args.weights)
    from jrestore.core.quantize import is_int8_file

    if args.weights and is_int8_file(args.weights):  # a `jrestore quantize` file: AQT int8 / torch.ao's module
        from jrestore.quantize.task import int8_task

        if args.set:
            raise ValueError("--set: an int8 file fixes its model's arguments; drop --set")
        task = int8_task(args.weights, (args.framework,), scale=args.scale)
    else:
        task = build_task(args.model, args.weights, scale=args.scale, sigma=args.sigma, cs_ratio=args.cs_ratio,
                          cs_matrices=args.cs_matrices, model_kwargs=parse_sets(args.set),
                          frameworks=(args.framework,))
    if args.per_channel and task.channels != 1:  # a flag that cannot take effect is an error, not ignored
        raise ValueError(f"--per-channel: {task.name} restores {task.channels or 'any number of'} channels at once; "
                         f"the flag is for one-channel models on colour images")
    said = []

    def luma_note() -> None:  # once per command, not once per file
        if not said:
            said.append(True)
            print(f"jrestore restore: note: {task.name} restores one channel: on colour images only the luminance "
                  f"(Y of YCbCr) is restored and the chroma kept{' (bicubic-upscaled)' if task.scale > 1 else ''}; "
                  f"--per-channel restores R, G and B separately", file=sys.stderr)

    def restore_one(inp):
        return restore_file(task, inp, args.framework, args.tile or None, per_channel=args.per_channel,
                            on_luma=luma_note)

    if len(jobs) == 1 and not src.is_dir():  # one file: its error is the command's error (exit 2)
        inp, out = jobs[0]
        image = restore_one(inp)
        write_image_atomic(image, out)
        print(f"{inp} ({_size(inp)}) -> {out} ({image.shape[1]}x{image.shape[0]})")
        return 0
    dst.mkdir(parents=True, exist_ok=True)
    failures = 0
    bar = tqdm(jobs, desc=f"{args.model} restore", unit="img", disable=None if len(jobs) > 1 else True)
    for inp, out in bar:
        try:  # one bad file never stops the folder: say which and why, go on with the others
            write_image_atomic(restore_one(inp), out)
        except (ValueError, OSError, MemoryError) as err:
            reason = str(err)
            reason = reason[len(f"{inp}: "):] if reason.startswith(f"{inp}: ") else reason
            if not isinstance(err, ValueError):
                reason = f"{type(err).__name__}: {reason}"
            print(f"jrestore restore: {inp}: {reason}", file=sys.stderr)
            failures += 1
    print(f"restored {len(jobs) - failures} of {len(jobs)} images into {dst}"
          + (f"; {failures} failed" if failures else ""), file=sys.stderr if failures else sys.stdout)
    return 1 if failures else 0


def _size(path: Path) -> str:
    from PIL import Image
    with Image.open(path) as im:
        return f"{im.width}x{im.height}"


def _jobs(src: Path, dst: Path, list_images) -> list[tuple[Path, Path]]:
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise ValueError(f"output: {dst} is a file; a folder input needs an output folder")
        return [(p, dst / (p.stem + ".png")) for p in list_images(src)]
    if dst.is_dir():
        return [(src, dst / (src.stem + ".png"))]
    return [(src, dst)]


def _check_collisions(jobs) -> None:
    """Two inputs with one output name (a.jpg and a.png -> a.png): refused before anything is written."""
    seen: dict[Path, Path] = {}
    for inp, out in jobs:
        if out in seen:
            raise ValueError(f"output: {seen[out].name} and {inp.name} would both be written to {out}; "
                             f"rename one of them or restore them separately")
        seen[out] = inp


def _check_output(out: Path, overwrite: bool, inputs) -> None:
    from PIL import Image

    if out.suffix.lower() not in Image.registered_extensions():
        raise ValueError(f"output: {out} has no image extension (.png, .tif, .bmp, ...)")
    if out.exists() and not overwrite:
        same = any(out.resolve() == Path(i).resolve() for i in inputs)
        raise ValueError(f"output: {out} {'is the input' if same else 'exists'}; pass --overwrite to replace it")
    if out.is_dir():
        raise ValueError(f"output: {out} is a folder")


def restore_file(task, path: Path, framework: str, tile: int | None, *, per_channel: bool = False,
                 on_luma=None) -> np.ndarray:
    """The restored [H', W'] or [H', W', 3] image of the file at `path`, uint8 for 8-bit files and uint16 for
    16-bit ones (computed in float32 from every bit of the input).

    A one-channel model on a colour image restores MATLAB-YCbCr Y and keeps the chroma (calling `on_luma()`
    first, so the caller can say so), or with `per_channel` each of R, G and B on its own."""
    from jrestore.data.image_io import peak_value, read_image

    image = read_image(path, keep_16bit=True)  # uint8 or uint16 [H, W, 1 or 3]; alpha, float: ValueError
    peak = peak_value(image)
    x = image.astype(np.float32) / peak
    if task.channels == 1 and x.shape[2] == 3:
        if per_channel:
            out = np.concatenate([task.restore(x[..., c:c + 1], framework, tile=tile) for c in range(3)], axis=-1)
        else:
            if on_luma is not None:
                on_luma()
            out = _restore_luma(task, x, framework, tile)
    else:
        if task.channels == 3 and x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        out = task.restore(x, framework, tile=tile)
    out = np.round(np.clip(out, 0.0, 1.0) * peak).astype(image.dtype)
    return out[..., 0] if out.shape[2] == 1 else out


def _restore_luma(task, rgb: np.ndarray, framework: str, tile: int | None) -> np.ndarray:
    """Restore MATLAB-YCbCr Y with the model; keep Cb, Cr (bicubic-upscaled for SR)."""
    import jax.numpy as jnp
    from jrestore.inference.tasks import upsampler
    from jrestore.ops.color import rgb_to_ycbcr_matlab, ycbcr_to_rgb_matlab

    ycc = np.asarray(rgb_to_ycbcr_matlab(jnp.asarray(rgb)[None]))[0]
    y = task.restore(ycc[..., :1], framework, tile=tile)
    chroma = ycc[..., 1:]
    if task.scale > 1:
        chroma = upsampler("jax", "matlab", task.scale)(chroma)
    return np.asarray(ycbcr_to_rgb_matlab(jnp.asarray(np.concatenate([y, chroma], axis=-1))[None]))[0]


def write_image_atomic(image: np.ndarray, out: Path) -> None:
    """Write uint8 or uint16 `image` to `out` atomically (`jrestore._io.atomic_write`); the folder must exist.
    16-bit images go to .png or .tif / .tiff only (`jrestore.data.image_io.write_image`)."""
    from jrestore._io import atomic_write
    from jrestore.data.image_io import write_image

    atomic_write(out, lambda tmp: write_image(image, tmp))  # the temporary name keeps out's suffix: the format
