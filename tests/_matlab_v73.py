"""Test helper: write MatConvNet simplenn networks as MATLAB would (`save -v7.3`, HDF5; or `save`, v5).

A v7.3 MAT-file is an HDF5 file behind a 512-byte user block whose first 128 bytes are MATLAB's text
header. Each variable carries `MATLAB_class`; arrays are column-major, so HDF5 sees the axes reversed
(a MATLAB [3, 3, 1, 64] single is an HDF5 (64, 1, 3, 3) float32); char arrays are uint16 code units with
`MATLAB_int_decode` = 2; a cell is a dataset of object references into `#refs#`; a struct is a group
(field order in `MATLAB_fields`); an empty array stores its dimensions (uint64) with `MATLAB_empty` = 1.
"""
from __future__ import annotations

import numpy as np

_CLASSES = {np.dtype(np.float32): "single", np.dtype(np.float64): "double", np.dtype(np.uint8): "uint8",
            np.dtype(np.int32): "int32", np.dtype(np.uint16): "uint16"}


def dncnn_simplenn_layers(state_dict, *, trailing=()) -> list[dict]:
    """KAIR DnCNN(act_mode='R') state dict -> simplenn layers (MATLAB-ordered arrays), as the official files.

    W [out, in, kH, kW] -> [kH, kW, in, out]; a single-output last conv loses its trailing singleton axis
    ([3, 3, 64]), as MATLAB stores it; biases are [out, 1] columns.
    """
    keys = sorted({int(k.split(".")[1]) for k in state_dict}, key=int)
    layers = []
    for n, idx in enumerate(keys):
        w = np.asarray(state_dict[f"model.{idx}.weight"], np.float32).transpose(2, 3, 1, 0)
        if w.shape[-1] == 1:
            w = w[..., 0]
        b = np.asarray(state_dict[f"model.{idx}.bias"], np.float32).reshape(-1, 1)
        layers.append({"type": "conv", "name": f"conv{n + 1}", "weights": [w, b],
                       "size": np.asarray(w.shape + (1,) * (4 - w.ndim), np.float64).reshape(1, -1),
                       "pad": np.ones((1, 4)), "stride": np.ones((1, 2)), "dilate": np.ones((1, 1)),
                       "precious": False})
        if n < len(keys) - 1:
            layers.append({"type": "relu", "name": f"relu{n + 1}", "leak": np.zeros((1, 1)), "weights": [],
                           "precious": False})
    return layers + list(trailing)


def _char(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-16-le"), np.uint16).reshape(-1, 1)  # MATLAB 1xn -> HDF5 (n, 1)


class _Writer:
    def __init__(self, f):
        import h5py
        self.h5py, self.f, self.refs, self.n = h5py, f, f.create_group("#refs#"), 0

    def _name(self) -> str:
        self.n += 1
        out, n = "", self.n
        while n:
            n, r = divmod(n - 1, 26)
            out = chr(97 + r) + out
        return out

    def write(self, group, name: str, value):
        h5py = self.h5py
        if isinstance(value, dict):
            g = group.create_group(name)
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            fields = np.empty(len(value), dtype=object)
            for i, k in enumerate(value):
                fields[i] = np.frombuffer(k.encode(), "S1")
            g.attrs.create("MATLAB_fields", fields, dtype=h5py.vlen_dtype(np.dtype("S1")))
            for k, v in value.items():
                self.write(g, k, v)
            return
        if isinstance(value, list):  # a 1xN cell
            if not value:
                d = group.create_dataset(name, data=np.zeros(2, np.uint64))
                d.attrs["MATLAB_class"] = np.bytes_("cell")
                d.attrs["MATLAB_empty"] = np.uint8(1)
                return
            refs = []
            for v in value:
                key = self._name()
                self.write(self.refs, key, v)
                refs.append(self.refs[key].ref)
            d = group.create_dataset(name, data=np.asarray(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            d.attrs["MATLAB_class"] = np.bytes_("cell")
            return
        if isinstance(value, str):
            d = group.create_dataset(name, data=_char(value))
            d.attrs["MATLAB_class"] = np.bytes_("char")
            d.attrs["MATLAB_int_decode"] = np.int32(2)
            return
        if isinstance(value, (bool, np.bool_)):
            d = group.create_dataset(name, data=np.full((1, 1), int(value), np.uint8))
            d.attrs["MATLAB_class"] = np.bytes_("logical")
            d.attrs["MATLAB_int_decode"] = np.int32(1)
            return
        a = np.asarray(value)
        a = a.reshape(1, 1) if a.ndim == 0 else a.reshape(1, -1) if a.ndim == 1 else a
        d = group.create_dataset(name, data=np.ascontiguousarray(a.T))  # column-major: HDF5 sees axes reversed
        d.attrs["MATLAB_class"] = np.bytes_(_CLASSES[a.dtype])


def write_mat_v73(path, variables: dict) -> None:
    """Write `variables` (dict / list / str / bool / ndarray values) as a MATLAB v7.3 MAT-file."""
    import h5py

    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        w = _Writer(f)
        for name, value in variables.items():
            w.write(f, name, value)
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Fri Jan  5 10:00:00 2018 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))


def write_mat_v5(path, variables: dict) -> None:
    """The same variables through scipy.io.savemat (MATLAB v5): dicts become structs, lists cells."""
    from scipy.io import savemat

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            cell = np.empty((1, len(v)), dtype=object)
            for i, x in enumerate(v):
                cell[0, i] = conv(x)
            return cell
        return v

    savemat(path, {k: conv(v) for k, v in variables.items()}, format="5", oned_as="column")
