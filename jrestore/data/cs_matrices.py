"""The official ISTA-Net sampling and initialisation matrices (MATLAB v5 .mat files).

A folder holds `phi_0_{R}_1089.mat` (key 'phi', [M, 1089]) and `Initialization_Matrix_{R}.mat` (key 'Qinit',
[1089, M]) per CS ratio R in percent, as jianzhangcs/ISTA-Net-PyTorch ships them in `sampling_matrix/`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_cs_matrices", "cs_matrix_paths"]


def cs_matrix_paths(folder, cs_ratio, block_size: int = 33) -> tuple[Path, Path]:
    n = block_size * block_size
    folder = Path(folder)
    return folder / f"phi_0_{cs_ratio}_{n}.mat", folder / f"Initialization_Matrix_{cs_ratio}.mat"


def _read(path: Path, key: str) -> np.ndarray:
    import scipy.io

    if not path.is_file():
        raise FileNotFoundError(f"--cs-matrices: no such file {path}")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # truncated, HDF5 (v7.3) or not a .mat file
        raise ValueError(f"--cs-matrices: cannot read {path} as a MATLAB v5 .mat file ({type(err).__name__}: {err})") from None
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"--cs-matrices: {path} has no {key!r} (keys: {keys})")
    return np.asarray(mat[key], np.float64)


def load_cs_matrices(folder, cs_ratio, block_size: int = 33) -> tuple[np.ndarray, np.ndarray]:
    """(phi [M, n], qinit [n, M]) float64 for ratio `cs_ratio`; shapes are checked by the models."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--cs-matrices: no such folder {folder}")
    phi_path, qinit_path = cs_matrix_paths(folder, cs_ratio, block_size)
    return _read(phi_path, "phi"), _read(qinit_path, "Qinit")
