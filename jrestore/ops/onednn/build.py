"""Compile conv.cc into the shared library jrestore's oneDNN convolutions load.

    python -m jrestore.ops.onednn.build [--force] [--quiet]     (--quiet: say nothing when already up to date)

It needs a C++17 compiler ($CXX, else g++), XLA's FFI headers (shipped in jaxlib: `jax.ffi.include_dir()`)
and oneDNN >= 3 headers and library, looked for in this Python's prefix (the pinned `onednn-cpu-gomp` /
`onednn-devel-cpu-gomp` wheels put them in <venv>/include and <venv>/lib), then /usr/local and /usr (Debian's
libdnnl-dev). The library is linked with an rpath to that lib directory, so no LD_LIBRARY_PATH is needed.

Idempotent and fast when up to date: the output's stamp is a hash of the source, the compile command and
the versions of jaxlib and oneDNN; a matching stamp means nothing to do. When something is missing it
prints one line saying what, exits 0 and jrestore uses XLA's convolutions (`jrestore.ops.onednn.status()`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

__all__ = ["HERE", "LIBRARY", "SOURCE", "find_toolchain", "build", "expected_stamp", "main"]

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "conv.cc"
LIBRARY = HERE / "_jrestore_onednn.so"  # gitignored
STAMP = HERE / "_jrestore_onednn.stamp"
MIN_ONEDNN_MAJOR = 3  # conv.cc uses oneDNN 3's primitive_desc constructors


def _jaxlib_include() -> Path | None:
    """jaxlib's include dir (what jax.ffi.include_dir() returns), found without importing jax (1-2 s)."""
    spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    include = Path(list(spec.submodule_search_locations)[0]) / "include"
    return include if (include / "xla" / "ffi" / "api" / "ffi.h").is_file() else None


def _onednn_version(include: Path) -> tuple[int, int] | None:
    header = include / "oneapi" / "dnnl" / "dnnl_version.h"
    try:
        text = header.read_text()
    except OSError:
        return None
    found = dict(re.findall(r"#define DNNL_VERSION_(MAJOR|MINOR)\s+(\d+)", text))
    if "MAJOR" not in found:
        return None
    return int(found["MAJOR"]), int(found.get("MINOR", 0))


def _onednn_prefixes() -> list[Path]:
    return [Path(p) for p in dict.fromkeys([sys.prefix, sys.base_prefix, "/usr/local", "/usr"])]


def find_toolchain() -> dict:
    """What the build would use: {"ok": bool, "reason": str, "cxx", "ffi_include", "dnnl_include", "dnnl_lib_dir",
    "dnnl_version"}; reason names the first missing piece."""
    out = {"ok": False, "reason": ""}
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        out["reason"] = f"no C++ compiler ({os.environ.get('CXX', 'g++')!r} not on PATH)"
        return out
    ffi_include = _jaxlib_include()
    if ffi_include is None:
        out["reason"] = "jaxlib's XLA FFI headers (jaxlib/include/xla/ffi/api/ffi.h) not found"
        return out
    seen = []
    for prefix in _onednn_prefixes():
        include = prefix / "include"
        version = _onednn_version(include)
        libs = sorted(prefix.glob("lib*/libdnnl.so.*")) + sorted(prefix.glob("lib/*/libdnnl.so.*"))
        if version is None or not libs:
            continue
        seen.append(f"{prefix}: oneDNN {version[0]}.{version[1]}")
        if version[0] < MIN_ONEDNN_MAJOR:
            continue
        soname = f"libdnnl.so.{version[0]}"
        lib = next((p for p in libs if p.name == soname), libs[0])
        out.update(ok=True, reason="", cxx=cxx, ffi_include=str(ffi_include), dnnl_include=str(include),
                   dnnl_lib=str(lib), dnnl_lib_dir=str(lib.parent), dnnl_version=f"{version[0]}.{version[1]}")
        return out
    out["reason"] = ("oneDNN >= 3 headers and libdnnl.so not found in " + ", ".join(str(p) for p in _onednn_prefixes())
                     + (f" (found {'; '.join(seen)})" if seen else "")
                     + ": pip install jrestore[onednn] (onednn-cpu-gomp + onednn-devel-cpu-gomp)")
    return out


def _command(tools: dict, output: Path) -> list[str]:
    return [tools["cxx"], "-O2", "-std=c++17", "-shared", "-fPIC", "-w",
            f"-I{tools['ffi_include']}", f"-I{tools['dnnl_include']}", str(SOURCE), "-o", str(output),
            f"-L{tools['dnnl_lib_dir']}", f"-l:{Path(tools['dnnl_lib']).name}", "-lgomp",
            f"-Wl,-rpath,{tools['dnnl_lib_dir']}"]


def expected_stamp(tools: dict | None = None) -> str | None:
    """Hash of what the library is built from (source, command, jaxlib and oneDNN versions); None if unbuildable."""
    tools = find_toolchain() if tools is None else tools
    if not tools["ok"]:
        return None
    try:
        jaxlib_version = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        jaxlib_version = "?"
    lib = Path(tools["dnnl_lib"]).resolve()
    parts = [SOURCE.read_bytes(), " ".join(_command(tools, LIBRARY)).encode(), jaxlib_version.encode(),
             tools["dnnl_version"].encode(), f"{lib}:{lib.stat().st_size}".encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def build(force: bool = False) -> dict:
    """Compile LIBRARY unless it is up to date. Returns {"built": bool, "up_to_date": bool, "reason": str}."""
    tools = find_toolchain()
    if not tools["ok"]:
        return {"built": False, "up_to_date": False, "reason": tools["reason"]}
    stamp = expected_stamp(tools)
    if not force and LIBRARY.is_file() and STAMP.is_file() and STAMP.read_text().strip() == stamp:
        return {"built": False, "up_to_date": True, "reason": "up to date"}
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:  # compile beside the target, then rename: atomic
        partial = Path(tmp) / LIBRARY.name
        proc = subprocess.run(_command(tools, partial), capture_output=True, text=True)
        if proc.returncode != 0:
            first = next((line for line in proc.stderr.splitlines() if "error" in line), proc.stderr.strip()[:300])
            return {"built": False, "up_to_date": False, "reason": f"{tools['cxx']} failed: {first}"}
        os.replace(partial, LIBRARY)
    STAMP.write_text(stamp + "\n")
    return {"built": True, "up_to_date": True, "reason": f"built with oneDNN {tools['dnnl_version']}"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    result = build(force="--force" in argv)
    if result["up_to_date"]:
        if result["built"] or "--quiet" not in argv:
            print(f"[jrestore] oneDNN convolutions: {result['reason']} ({LIBRARY.name})")
    else:
        print(f"[jrestore] oneDNN convolutions not built ({result['reason']}); jrestore uses XLA's convolutions")
    return 0  # never fail an install: the pure-XLA path is always there


if __name__ == "__main__":
    sys.exit(main())
