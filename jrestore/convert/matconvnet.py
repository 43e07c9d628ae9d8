"""The official DnCNN MatConvNet models (cszn/DnCNN) as KAIR-layout PyTorch state dicts.

`read_matconvnet_dncnn(path)` -> {'model.0.weight': [out, in, 3, 3] float32, 'model.0.bias': [out], ...,
'model.{2(nb-1)}.bias'}: the layout of KAIR's `DnCNN(act_mode='R')` and of jrestore's / torch_ref's `dncnn`
with `act_mode='R', nb=<number of convs>`. It reads `model/specifics/sigma=15.mat`, `sigma=25.mat`,
`sigma=50.mat` and `model/GD_Gray_Blind.mat` of cszn/DnCNN.

The files are MatConvNet *simplenn* networks: a struct `net` whose field `layers` is a cell array of
structs with `type` ('conv', 'relu', ...), `weights` = {W [kH, kW, in, out], b [out]}, `pad`, `stride`.

File formats:
- MATLAB v7.3 (HDF5, what `save -v7.3` writes; read with h5py). HDF5 keeps MATLAB's column-major arrays
  with the axes reversed (W [kH, kW, in, out] is stored [out, in, kW, kH]); `char` arrays are uint16
  code units; cells are datasets of object references into the `#refs#` group; every variable carries a
  `MATLAB_class` attribute; empty arrays are stored as their dimensions with `MATLAB_empty` = 1.
- MATLAB v5 / v7 (what `save` writes by default; read with scipy.io.loadmat), same structure.

Conversion rules:
- MatConvNet's conv is a cross-correlation, as PyTorch's, so W only changes layout:
  [kH, kW, in, out] -> [out, in, kH, kW]; no kernel flip.
- MATLAB drops trailing singleton dimensions: the gray models' last W is [3, 3, 64] for [3, 3, 64, 1].
- Batch norm is already merged into the convs in the released models; a 'bnorm' layer after a conv is
  folded into it as DnCNN's `vl_simplenn_mergebnorm` does (moments = [mean, sigma], sigma already
  includes MatConvNet's epsilon): W *= g / sigma, b = (b - mean) g / sigma + beta.
- Trailing loss layers (type ending in 'loss', training only) are dropped.
- Anything else is refused with a ValueError naming the file and the layer: stride or dilation != 1,
  padding != 1, kernels other than 3x3, a leaky ReLU, other layer types, a layer order that is not
  conv (relu conv)*.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_matconvnet_dncnn", "read_simplenn_layers", "MATLAB_V5_HEADER"]

MATLAB_V5_HEADER = b"MATLAB 5.0 MAT-file"  # v5, v6 and v7 files start with this text; v7.3 files are HDF5


# ---- MATLAB values -> Python (dict for a struct, list for a cell, str for char, MATLAB-ordered ndarray) ----

def _attr_str(obj, name: str) -> str:
    value = obj.attrs.get(name)
    if value is None:
        return ""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else b""
    return value.decode("ascii", "replace") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _h5_value(h5file, obj, where: str):
    """One MATLAB v7.3 variable (HDF5 group or dataset) as a Python value, arrays in MATLAB axis order."""
    import h5py

    cls = _attr_str(obj, "MATLAB_class")
    if isinstance(obj, h5py.Group):
        if cls not in ("struct", ""):
            raise _Unsupported(f"{where} is a MATLAB {cls!r} object, expected a struct")
        fields = {k: obj[k] for k in obj.keys()}
        # A struct *array* stores each field as a dataset of references, one per element (no MATLAB_class
        # on the field); a 1x1 struct stores the field values themselves.
        if fields and all(isinstance(d, h5py.Dataset) and d.dtype == h5py.ref_dtype
                          and not _attr_str(d, "MATLAB_class") for d in fields.values()):
            columns = {k: [_h5_value(h5file, h5file[r], f"{where}.{k}") for r in d[()].T.ravel(order="F")]
                       for k, d in fields.items()}
            n = len(next(iter(columns.values())))
            return [{k: columns[k][i] for k in columns} for i in range(n)]
        return {k: _h5_value(h5file, d, f"{where}.{k}") for k, d in fields.items()}
    if np.any(np.asarray(obj.attrs.get("MATLAB_empty", 0))):  # the data holds the dimensions, not values
        return "" if cls == "char" else [] if cls == "cell" else np.zeros((0,), np.float64)
    data = obj[()]
    if obj.dtype == h5py.ref_dtype:  # a cell: references in MATLAB's linear (column-major) order
        return [_h5_value(h5file, h5file[r], f"{where}{{{i + 1}}}") for i, r in enumerate(np.asarray(data).T.ravel(order="F"))]
    array = np.asarray(data).T  # undo HDF5's reversed axes
    if cls == "char":
        return "".join(chr(c) for c in array.ravel(order="F"))
    if array.dtype.names:  # complex numbers are stored as a (real, imag) compound
        raise _Unsupported(f"{where} is a complex array, expected real weights")
    return array.astype(bool) if cls == "logical" else array


def _v5_value(value, where: str):
    """A scipy.io.loadmat value (struct_as_record=False, squeeze_me=False) in the same Python form."""
    from scipy.io.matlab import mat_struct

    if isinstance(value, mat_struct):
        return {k: _v5_value(getattr(value, k), f"{where}.{k}") for k in value._fieldnames}
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "U":  # char array
            return "".join(value.ravel(order="F").tolist())
        if value.dtype == object:  # cell or struct array
            items = [_v5_value(v, f"{where}{{{i + 1}}}") for i, v in enumerate(value.ravel(order="F"))]
            if value.size == 1 and isinstance(value.ravel()[0], mat_struct):
                return items[0]
            return items
        return value
    return np.asarray(value)


class _Unsupported(ValueError):
    pass


def _read_variables(path: str) -> dict:
    """Top-level variables of a MAT-file, v7.3 (HDF5) or v5."""
    import h5py

    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                return {k: _h5_value(f, f[k], k) for k in f.keys() if not k.startswith("#")}
        except (OSError, KeyError, ValueError) as err:  # truncated or corrupt HDF5
            if isinstance(err, _Unsupported):
                raise
            raise ValueError(f"{path}: cannot read as a MATLAB v7.3 (HDF5) file, truncated or corrupt "
                             f"({type(err).__name__}: {err})") from None
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(MATLAB_V5_HEADER):
        from scipy.io import loadmat
        try:
            # squeeze_me=False keeps every dimension, so [3, 3, 1, 64] and [3, 3, 64] stay distinguishable
            raw = loadmat(path, struct_as_record=False, squeeze_me=False)
        except Exception as err:  # scipy raises many kinds (IndexError, ValueError, zlib.error) on a cut file
            raise ValueError(f"{path}: cannot read as a MATLAB v5 MAT-file, truncated or corrupt "
                             f"({type(err).__name__}: {err})") from None
        return {k: _v5_value(v, k) for k, v in raw.items() if not k.startswith("__")}
    raise ValueError(f"{path}: not a MATLAB MAT-file (expected MATLAB v7.3 / HDF5, or v5 starting with "
                     f"{MATLAB_V5_HEADER.decode()!r}; the file starts with {head[:24]!r})")


# ---- simplenn -> KAIR state dict ----

def read_simplenn_layers(path) -> list[dict]:
    """The `net.layers` of a MatConvNet simplenn MAT-file: one dict per layer (fields as Python values)."""
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such MatConvNet file {path}")
    try:
        variables = _read_variables(path)
    except _Unsupported as err:
        raise ValueError(f"{path}: {err}") from None
    net = variables.get("net")
    if net is None:  # a file saved under another name: the one struct with a 'layers' field
        nets = [v for v in variables.values() if isinstance(v, dict) and "layers" in v]
        net = nets[0] if len(nets) == 1 else None
    if not isinstance(net, dict) or "layers" not in net:
        raise ValueError(f"{path}: expected a MatConvNet simplenn struct 'net' with a 'layers' cell array, "
                         f"found variables {sorted(variables)}")
    layers = net["layers"]
    if isinstance(layers, dict):  # a 1x1 struct array
        layers = [layers]
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise ValueError(f"{path}: net.layers must be a cell array of structs")
    return layers


def _scalar_all(value, want: int) -> bool:
    a = np.asarray(value, dtype=np.float64).ravel()
    return a.size > 0 and bool(np.all(a == want))


def _conv_params(layer: dict, i: int, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(W [out, in, kH, kW] float32, b [out] float32) of simplenn layer i (1-based in messages)."""
    where = f"{path}: net.layers{{{i}}} ('conv')"
    weights = layer.get("weights")
    if weights is None and "filters" in layer:  # MatConvNet before beta-19: filters / biases fields
        weights = [layer["filters"], layer.get("biases", np.zeros((0,)))]
    if not isinstance(weights, list) or len(weights) not in (1, 2):
        raise ValueError(f"{where}: expected weights = {{W, b}}, got {type(weights).__name__}")
    w = np.asarray(weights[0])
    if w.ndim < 2 or w.ndim > 4:
        raise ValueError(f"{where}: expected W of shape [kH, kW, in, out], got {w.shape}")
    w = w.reshape(w.shape + (1,) * (4 - w.ndim))  # MATLAB drops trailing singleton dims: [3,3,64] = [3,3,64,1]
    kh, kw, cin, cout = w.shape
    if (kh, kw) != (3, 3):
        raise ValueError(f"{where}: W has shape {w.shape} ([kH, kW, in, out]); DnCNN needs 3x3 kernels")
    b = np.asarray(weights[1]) if len(weights) == 2 else np.zeros((0,))
    b = np.zeros((cout,), np.float32) if b.size == 0 else b.reshape(-1)  # a conv followed by BN may have none
    if b.shape != (cout,):
        raise ValueError(f"{where}: bias has {b.size} values but W {w.shape} has {cout} output channels")
    for name, want in (("stride", 1), ("pad", 1), ("dilate", 1)):
        if name in layer and not _scalar_all(layer[name], want):
            raise ValueError(f"{where}: {name} = {np.asarray(layer[name]).ravel().tolist()}, only {want} is "
                             f"supported (DnCNN's 3x3 convs with padding 1)")
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1), dtype=np.float32), b.astype(np.float32)


def _fold_bnorm(w: np.ndarray, b: np.ndarray, layer: dict, i: int, path: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"{path}: net.layers{{{i}}} ('bnorm')"
    weights = layer.get("weights")
    if not isinstance(weights, list) or len(weights) != 3:
        raise ValueError(f"{where}: expected weights = {{gain, bias, moments}}, got {type(weights).__name__}")
    g, beta = (np.asarray(x, np.float64).reshape(-1) for x in weights[:2])
    moments = np.asarray(weights[2], np.float64)
    cout = w.shape[0]
    if g.size != cout or beta.size != cout or moments.size != 2 * cout:
        raise ValueError(f"{where}: expected gain, bias [{cout}] and moments [{cout}, 2], got {g.shape}, "
                         f"{beta.shape}, {moments.shape}")
    moments = moments.reshape(cout, 2, order="F") if moments.shape != (cout, 2) else moments
    mean, sigma = moments[:, 0], moments[:, 1]
    scale = g / sigma
    w = (w.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
    b = ((b.astype(np.float64) - mean) * scale + beta).astype(np.float32)
    return w, b


def read_matconvnet_dncnn(path) -> dict[str, np.ndarray]:
    """A DnCNN MatConvNet simplenn file -> KAIR-layout state dict {'model.{2k}.weight' / '.bias': float32}.

    Load the result into `dncnn` with act_mode='R', nb = len(result) // 2, in_nc = result['model.0.weight']
    .shape[1]. Raises FileNotFoundError for a missing file and ValueError (naming the file and the layer) for
    a file or layer this reader does not handle.
    """
    path = str(path)
    layers = read_simplenn_layers(path)
    types = [str(layer.get("type", "")).lower() for layer in layers]
    while types and types[-1].endswith("loss"):  # training objective, not part of the network
        types.pop()
        layers = layers[:-1]
    convs: list[list[np.ndarray]] = []
    expect = "conv"  # the network must read conv (relu conv)*
    for i, (layer, kind) in enumerate(zip(layers, types), start=1):
        if kind == "bnorm":
            if not convs or expect != "relu":
                raise ValueError(f"{path}: net.layers{{{i}}} is a 'bnorm' that does not follow a conv")
            convs[-1] = list(_fold_bnorm(*convs[-1], layer, i, path))
            continue
        if kind not in ("conv", "relu"):
            raise ValueError(f"{path}: net.layers{{{i}}} has type {kind!r}; only 'conv', 'relu', 'bnorm' "
                             f"(folded) and trailing loss layers are supported")
        if kind != expect:
            raise ValueError(f"{path}: net.layers{{{i}}} is a {kind!r} where a {expect!r} was expected "
                             f"(DnCNN alternates conv and relu: conv (relu conv)*)")
        if kind == "relu":
            leak = layer.get("leak", 0)
            if np.asarray(leak).size and not _scalar_all(leak, 0):
                raise ValueError(f"{path}: net.layers{{{i}}} is a leaky ReLU (leak {np.asarray(leak).ravel()[0]}); "
                                 f"only plain ReLU is supported")
            expect = "conv"
        else:
            convs.append(list(_conv_params(layer, i, path)))
            expect = "relu"
    if not convs or expect != "relu":
        raise ValueError(f"{path}: expected the simplenn layers to end with a conv, found {types}")
    for k in range(1, len(convs)):
        prev_out, cin = convs[k - 1][0].shape[0], convs[k][0].shape[1]
        if prev_out != cin:
            raise ValueError(f"{path}: conv {k + 1} takes {cin} channels but conv {k} gives {prev_out}")
    state = {}
    for k, (w, b) in enumerate(convs):
        state[f"model.{2 * k}.weight"] = w
        state[f"model.{2 * k}.bias"] = b
    return state
