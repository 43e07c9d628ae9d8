"""`jrestore bench --profile-ops`: where each step's time goes, per operation, in JAX and in the best PyTorch impl,
mapped to the same categories so that the two can be subtracted.

    jax_ops = profile_jax(step, compiled, steps=3, batch=16)    # in the JAX worker (jax_runner "profile" op)
    torch_ops = profile_torch(step, steps=3)                    # in the bench process
    entry = compare(model, mode, [jax_ops, ...], [torch_ops, ...], jax_row, torch_row)
    write(entries, out_dir)                                     # op_profile.json, op_profile.md

JAX: `jax.profiler` on the CPU (jaxlib 0.10.2: `start_trace` with the Python tracer off, the XPlane read back with
`jax.profiler.ProfileData`). XLA:CPU's thunk executor records one event per executed HLO instruction (a fusion,
a convolution, a dot, a oneDNN custom call, a copy ...), with the instruction's name in its `hlo_op` stat, on the
thread that ran it. Its time is that thread's wall time for the thunk, so two thunks XLA runs at once on two
threads both count in full: the sum of the ops can exceed the step's wall time (printed beside it). Each
instruction is categorised from the compiled module's HLO text (`compiled.as_text()`): its opcode, the opcodes
inside a fusion, the custom-call target, the `transpose(...)` in its metadata's op_name (the backward pass) and
the Python stack of its metadata (optax's files: optimizer; BatchNorm's functions: normalisation).

PyTorch: `torch.profiler.profile` (CPU activity), every event's self CPU time (`FunctionEvent.self_cpu_time_total`,
the time inside the op minus its child ops), categorised by the op's name and the names above it (an op under
`Optimizer.step` is the optimizer's; under `NativeBatchNormBackward0`, normalisation's). torch.compile's
Inductor kernels are not recorded one by one (that needs a recompilation with
`torch._inductor.config.cpp.enable_kernel_profile`); their time is the self time of the graph call
(`## Call CompiledFxGraph ... ##`), category `fused_graph`; the convolutions inside a compiled graph stay
separate aten ops (Inductor calls them as extern kernels).

Categories (CATEGORIES; a fusion counts under the first that applies, in this order):
    conv_forward       convolution forward (XLA convolution or dot from a conv_general_dilated, oneDNN forward call,
                       aten::mkldnn_convolution ...)
    conv_input_grad    the input gradient (XLA: a convolution in the backward pass whose output is larger than
                       one of its operands; oneDNN backward-data call)
    conv_filter_grad   the filter gradient (XLA: one whose output is smaller than both operands; oneDNN
                       backward-weights call)
    conv_backward      both gradients in one op (aten::convolution_backward: PyTorch's profile cannot split it)
    optimizer          the optimizer update (optax's ops; torch: everything under Optimizer.step / zero_grad)
    normalisation      BatchNorm (or another normalisation layer) forward and backward, with what XLA fused into it
    matmul             dot products that are not convolutions
    reduction          reductions (losses' means, the gradient norm, ...)
    layout             transposes, copies, pads, slices, concatenations, pixel shuffles, views
    elementwise        elementwise arithmetic and activations (and their backward)
    fused_graph        torch.compile's Inductor kernels (not separable without a recompilation)
    other              allocation, autograd bookkeeping, anything else
COMPARE_GROUPS merges the three convolution-gradient categories ("conv_backward_all") so that JAX and PyTorch can
be subtracted category by category.
"""
from __future__ import annotations

import collections
import glob
import json
import math
import re
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["CATEGORIES", "COMPARE_GROUPS", "LABELS", "parse_hlo", "categorise_hlo", "jax_profile_events",
           "profile_jax", "torch_category", "profile_torch", "merge_rounds", "compare", "markdown", "write", "rescale"]

CATEGORIES = ("conv_forward", "conv_input_grad", "conv_filter_grad", "conv_backward", "optimizer", "normalisation",
              "matmul", "reduction", "layout", "elementwise", "fused_graph", "other")
LABELS = {"conv_forward": "convolution forward", "conv_input_grad": "convolution input gradient",
          "conv_filter_grad": "convolution filter gradient",
          "conv_backward": "convolution backward (input + filter in one op)",
          "conv_backward_all": "convolution backward (input + filter)", "optimizer": "optimizer update",
          "normalisation": "normalisation (BatchNorm)", "matmul": "matmul (dot)", "reduction": "reductions",
          "layout": "layout: transposes, copies, pads", "elementwise": "elementwise / activations",
          "fused_graph": "torch.compile fused kernels", "other": "other"}
# the rows of the JAX-minus-torch table: each group sums the categories listed
COMPARE_GROUPS = {"conv_forward": ("conv_forward",),
                  "conv_backward_all": ("conv_input_grad", "conv_filter_grad", "conv_backward"),
                  "optimizer": ("optimizer",), "normalisation": ("normalisation",), "matmul": ("matmul",),
                  "reduction": ("reduction",), "layout": ("layout",), "elementwise": ("elementwise",),
                  "fused_graph": ("fused_graph",), "other": ("other",)}

_NORM_FUNCS = re.compile(r"BatchNorm|batch_norm|batch_moments|GroupNorm|group_norm|LayerNorm|layer_norm|"
                         r"InstanceNorm|instance_norm")
_LAYOUT_OPS = {"transpose", "copy", "pad", "slice", "concatenate", "dynamic-slice", "dynamic-update-slice",
               "reverse", "gather", "scatter", "copy-start", "copy-done"}
_FREE_OPS = {"parameter", "constant", "bitcast", "reshape", "broadcast", "tuple", "get-tuple-element", "iota",
             "bitcast-convert"}
_REDUCE_OPS = {"reduce", "reduce-window", "reduce-precision-never"}
_CONTAINERS = {"while", "conditional", "call"}  # their bodies' instructions are profiled themselves
_ONEDNN = {"jrestore_onednn_conv_forward": "conv_forward", "jrestore_onednn_conv_backward_data": "conv_input_grad",
           "jrestore_onednn_conv_backward_weights": "conv_filter_grad"}

_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%([^\s=]+)\s*=\s*(.*?)\s([a-z][a-z0-9\-]*)\((.*)$")
_COMP = re.compile(r"^(?:ENTRY\s+)?%([^\s(]+)\s*\(.*\{\s*$")
_SHAPE = re.compile(r"^[a-z0-9]+\[([0-9,]*)\]")


# ---------------------------------------------------------------------------------------------------- JAX / HLO

def _elements(shape: str) -> int | None:
    m = _SHAPE.match(shape.strip())
    if not m:
        return None
    return math.prod(int(d) for d in m.group(1).split(",") if d) if m.group(1) else 1


def _stack_functions(text: str) -> dict[int, list[tuple[str, str]]]:
    """stack_frame_id -> [(file, function), ...] innermost first, from the module's StackFrames tables."""
    def table(name):
        m = re.search(r"^" + name + r"\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
        return m.group(1).splitlines() if m else []

    files = {int(l.split()[0]): l.split(None, 1)[1].strip('"') for l in table("FileNames") if l.strip()}
    funcs = {int(l.split()[0]): l.split(None, 1)[1].strip('"') for l in table("FunctionNames") if l.strip()}
    locs, frames = {}, {}
    for l in table("FileLocations"):
        d = dict(re.findall(r"(\w+)=(\d+)", l))
        if d:
            locs[int(l.split()[0])] = (int(d["file_name_id"]), int(d["function_name_id"]))
    for l in table("StackFrames"):
        d = dict(re.findall(r"(\w+)=(\d+)", l))
        if d:
            frames[int(l.split()[0])] = (int(d["file_location_id"]), int(d["parent_frame_id"]))
    out = {}
    for fid in frames:
        chain, f, seen = [], fid, set()
        while f in frames and f not in seen:  # the text prints each parent one above its index (checked by hand)
            seen.add(f)
            loc, parent = frames[f]
            fi, fu = locs.get(loc, (0, 0))
            chain.append((files.get(fi, "?"), funcs.get(fu, "?")))
            f = parent - 1
        out[fid] = chain
    return out


def parse_hlo(text: str) -> dict:
    """{"module": name, "instructions": {name: {"op", "shape", "operands", "calls", "target", "op_name",
    "window", "frame", "computation"}}, "computations": {name: [instruction names]}, "frames": {...}} from an
    HLO module's text (compiled.as_text())."""
    first = text.split("\n", 1)[0]
    module = first.split()[1].rstrip(",") if first.startswith("HloModule") else "?"
    instrs, comps, current = {}, {}, None
    for line in text.splitlines():
        m = _COMP.match(line)
        if m:
            current = m.group(1)
            comps[current] = []
            continue
        m = _INSTR.match(line)
        if not m or current is None:
            continue
        name, shape, op, rest = m.groups()
        args = rest.split(")", 1)[0]
        attr = lambda key: (re.search(key + r'=([^,\s}]+|"[^"]*"|\{[^}]*\})', rest) or [None, None])[1]  # noqa: E731
        opn = re.search(r'op_name="([^"]*)"', rest)
        frame = re.search(r"stack_frame_id=(\d+)", rest)
        calls = re.search(r"calls=%([^\s,]+)", rest)
        instrs[name] = {"op": op, "shape": shape.strip(), "operands": re.findall(r"%([^\s,)]+)", args),
                        "calls": calls.group(1) if calls else None,
                        "target": (attr("custom_call_target") or "").strip('"') or None,
                        "op_name": opn.group(1) if opn else "", "window": attr("window"),
                        "frame": int(frame.group(1)) if frame else None, "computation": current}
        comps[current].append(name)
    return {"module": module, "instructions": instrs, "computations": comps, "frames": _stack_functions(text)}


def _conv_direction(ins: dict, instrs: dict) -> str:
    """conv_forward | conv_input_grad | conv_filter_grad for a convolution (or a dot from one): the backward pass
    is where JAX's op_name says transpose(...); there, the filter gradient's output (a kernel) is smaller than
    both operands (image-sized activations and cotangents), the input gradient's (an image) is not."""
    if "transpose(" not in ins["op_name"]:
        return "conv_forward"
    out = _elements(ins["shape"])
    sizes = [_elements(instrs[o]["shape"]) for o in ins["operands"] if o in instrs]
    sizes = [s for s in sizes if s]
    if out is not None and len(sizes) >= 2 and out < min(sizes):
        return "conv_filter_grad"
    return "conv_input_grad"


def _fused(name: str, hlo: dict, depth: int = 0) -> list[dict]:
    """Every instruction inside a fusion (nested fusions and called computations included)."""
    out = []
    for n in hlo["computations"].get(name, []):
        ins = hlo["instructions"][n]
        out.append(ins)
        if ins["calls"] and depth < 4:
            out += _fused(ins["calls"], hlo, depth + 1)
    return out


def _categorise(ins: dict, hlo: dict) -> str:
    instrs, frames = hlo["instructions"], hlo["frames"]
    op = ins["op"]
    if op == "custom-call":
        return _ONEDNN.get(ins["target"] or "", "other")
    inner = _fused(ins["calls"], hlo) if op == "fusion" and ins["calls"] else [ins]
    ops = {i["op"] for i in inner}
    for i in inner:
        if i["op"] == "convolution" or (i["op"] == "dot" and i["op_name"].endswith("conv_general_dilated")):
            return _conv_direction(i, instrs)  # inside a fusion its operands are the fusion's parameters
    if "dot" in ops:
        return "matmul"
    stacks = [frames.get(i["frame"], []) for i in inner if i["frame"] is not None]
    if any("/optax/" in f and "norm" not in fn for st in stacks for f, fn in st[:1]):
        return "optimizer"
    if any(_NORM_FUNCS.search(fn) for st in stacks for _, fn in st):
        return "normalisation"
    if ops & _REDUCE_OPS:
        return "reduction"
    if op in _CONTAINERS:
        return "other"
    work = ops - _FREE_OPS
    if work <= _LAYOUT_OPS:
        return "layout"
    if work & {"all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all", "rng",
               "rng-bit-generator", "sort", "outfeed", "infeed", "send", "recv"}:
        return "other"
    return "elementwise"


def _describe(ins: dict, hlo: dict) -> str:
    """A short description of an instruction for the top-N list: opcode (fused opcodes), custom-call target, shape."""
    if ins["op"] == "custom-call":
        what = f"custom-call {ins['target']}"
    elif ins["op"] == "fusion" and ins["calls"]:
        inner = sorted({i["op"] for i in _fused(ins["calls"], hlo)} - _FREE_OPS)
        what = f"fusion[{','.join(inner[:6])}{',...' if len(inner) > 6 else ''}]"
    else:
        what = ins["op"]
    if ins["op"] in ("convolution",) and ins.get("window"):
        what += f" window {ins['window']}"
    return f"{what} -> {ins['shape'].split('{')[0]}"


def categorise_hlo(text: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """(module name, {instruction name: (category, description)}) for every instruction of a compiled module."""
    hlo = parse_hlo(text)
    out = {}
    for name, ins in hlo["instructions"].items():
        if ins["op"] in _FREE_OPS and ins["op"] != "broadcast":
            out[name] = ("layout", _describe(ins, hlo))
            continue
        out[name] = (_categorise(ins, hlo), _describe(ins, hlo))
    return hlo["module"], out


def jax_profile_events(xspace_path: str, module: str) -> dict[str, list]:
    """{hlo instruction name: [total ns, count]} of one module's thunk events in an XPlane file (XLA:CPU)."""
    import jax

    pd = jax.profiler.ProfileData.from_file(xspace_path)
    out: dict = collections.defaultdict(lambda: [0, 0])
    for plane in pd.planes:
        for line in plane.lines:
            for ev in line.events:
                if ev.name.startswith(("end: ", "ThunkExecutor", "ThreadpoolListener")):
                    continue
                stats = dict(ev.stats)
                op = stats.get("hlo_op")
                if op is None or (module and stats.get("hlo_module") not in (module, None)):
                    continue
                acc = out[op]
                acc[0] += ev.duration_ns
                acc[1] += 1
    return dict(out)


def profile_jax(step, compiled, steps: int) -> dict:
    """Profile `steps` calls of a warm JAX step (step() blocks until done; compiled: its executable).
    -> {"framework": "jax", "steps", "wall_ms": [per step], "ops": {name: {"ms", "count", "category", "what"}}}
    where ms and count are totals over the steps."""
    import jax

    module, cats = categorise_hlo(compiled.as_text())
    log_dir = tempfile.mkdtemp(prefix="jrestore_opprof_")
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0  # Python's own frames would cost more than the step
    walls = []
    try:
        jax.profiler.start_trace(log_dir, profiler_options=options)
        try:
            for _ in range(steps):
                t0 = time.perf_counter()
                step()
                walls.append((time.perf_counter() - t0) * 1e3)
        finally:
            jax.profiler.stop_trace()
        files = glob.glob(f"{log_dir}/**/*.xplane.pb", recursive=True)
        if not files:
            raise RuntimeError(f"jax.profiler wrote no .xplane.pb under {log_dir}")
        events = jax_profile_events(files[0], module)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    ops = {name: {"ms": ns / 1e6, "count": n, "category": cats.get(name, ("other", "not in the module"))[0],
                  "what": cats.get(name, ("other", "not in the module"))[1]}
           for name, (ns, n) in events.items()}
    return {"framework": "jax", "steps": steps, "wall_ms": walls, "ops": ops}


# ---------------------------------------------------------------------------------------------------- PyTorch

_T_CONV_FWD = re.compile(r"^aten::(mkldnn_convolution|_convolution|convolution|conv\w*|_slow_conv2d_forward|"
                         r"slow_conv\w*|thnn_conv\w*|_nnpack\w*|cudnn_convolution\w*)$|^mkldnn::_convolution")
_T_MATMUL = re.compile(r"^aten::(mm|addmm|bmm|baddbmm|matmul|linear|dot|_mkl_linear|mkldnn_linear|addmv|mv)$")
_T_REDUCE = re.compile(r"^aten::(sum|mean|linalg_vector_norm|norm|max|min|amax|amin|var|std|var_mean|std_mean|"
                       r"mse_loss|l1_loss|smooth_l1_loss|huber_loss|binary_cross_entropy\w*|prod|logsumexp|"
                       r"cumsum|argmax|argmin|all|any)$")
_T_LAYOUT = re.compile(r"^aten::(copy_|clone|contiguous|_to_copy|to|permute|transpose|t|pixel_shuffle|"
                       r"pixel_unshuffle|constant_pad_nd|pad|reflection_pad\w*|replication_pad\w*|cat|stack|"
                       r"narrow|slice|select|view|reshape|_reshape_alias|expand|as_strided|as_strided_|unsqueeze|"
                       r"squeeze|flatten|unflatten|alias|detach|detach_|index|index_select|_unsafe_view|"
                       r"unfold|im2col|col2im|roll|flip|split|chunk|unbind|movedim|channel_shuffle|"
                       r"upsample\w*|_upsample\w*)$")
_T_OTHER = re.compile(r"^aten::(empty|empty_like|empty_strided|resize_|zeros|zeros_like|ones|ones_like|full|"
                      r"item|_local_scalar_dense|set_|lift_fresh|result_type|is_nonzero|record_stream|"
                      r"_has_compatible_shallow_copy_type|random_|normal_|uniform_|rand\w*)$")
_K_LAYOUT = {"clone", "pixel", "shuffle", "unshuffle", "permute", "cat", "constant", "pad", "nd", "copy", "view",
             "transpose", "unsafe", "index", "slice", "select", "stack", "reflection", "replication"}


def _inductor_kernel_category(name: str) -> str:
    """An Inductor CPU kernel's category from the aten ops its name lists ("graph_0_cpp_fused_pixel_shuffle_3")."""
    tokens = [t for t in name.split("cpp_fused", 1)[1].split("_") if t and not t.isdigit()]
    joined = "_".join(tokens)
    if not tokens:
        return "fused_graph"
    if "batch_norm" in joined or "group_norm" in joined or "layer_norm" in joined:
        return "normalisation"
    if "foreach" in joined or "adam" in joined:
        return "optimizer"
    if set(tokens) <= _K_LAYOUT:
        return "layout"
    if re.search(r"(^|_)(sum|mean|var|amax|amin|convolution_backward|mse_loss|linalg_vector_norm)(_|$)", joined):
        return "reduction"  # Inductor's convolution_backward kernels are the bias gradients' sums
    return "elementwise"


def torch_category(name: str, ancestors: list[str]) -> str:
    """The category of one torch.profiler event from its name and the names of the events it ran inside."""
    chain = [name, *ancestors]
    if any(n.startswith(("Optimizer.step", "Optimizer.zero_grad")) for n in chain):
        return "optimizer"
    if name.startswith("## Call CompiledFxGraph"):
        return "fused_graph"
    if "cpp_fused" in name:  # Inductor kernels by name (TORCHINDUCTOR_CPP_ENABLE_KERNEL_PROFILE=1)
        return _inductor_kernel_category(name)
    if "convolution_backward" in name or re.match(r"^aten::\w*conv\w*backward", name):
        if "weight" in name:
            return "conv_filter_grad"
        if "input" in name or "backward_data" in name:
            return "conv_input_grad"
        return "conv_backward"
    if _T_CONV_FWD.search(name):
        return "conv_forward"
    if any(re.search(r"batch_norm|BatchNorm|group_norm|GroupNorm|layer_norm|LayerNorm|instance_norm", n)
           for n in chain):
        return "normalisation"
    if _T_MATMUL.match(name):
        return "matmul"
    if _T_REDUCE.match(name):
        return "reduction"
    if _T_LAYOUT.match(name):
        return "layout"
    if _T_OTHER.match(name) or not name.startswith("aten::"):
        return "other"  # allocation, autograd engine and AccumulateGrad, dynamo/compiled-region wrappers
    return "elementwise"


def profile_torch(step, steps: int) -> dict:
    """Profile `steps` calls of a warm torch step -> the same dict as profile_jax (framework "torch"), each op's
    self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    walls = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            walls.append((time.perf_counter() - t0) * 1e3)
    ops: dict = {}
    for ev in prof.events():
        ancestors, parent = [], ev.cpu_parent
        while parent is not None and len(ancestors) < 64:
            ancestors.append(parent.name)
            parent = parent.cpu_parent
        cat = torch_category(ev.name, ancestors)
        key = ev.name if cat != "optimizer" or ev.name.startswith("Optimizer") else f"{ev.name} (in Optimizer)"
        acc = ops.setdefault(key, {"ms": 0.0, "count": 0, "category": cat, "what": ""})
        acc["ms"] += ev.self_cpu_time_total / 1e3
        acc["count"] += 1
    return {"framework": "torch", "steps": steps, "wall_ms": walls, "ops": ops}


# ---------------------------------------------------------------------------------------------------- report

def merge_rounds(profiles: list[dict]) -> dict:
    """Several rounds' profiles of one step -> one, ops summed, steps and wall times concatenated."""
    ops: dict = {}
    for p in profiles:
        for name, o in p["ops"].items():
            acc = ops.setdefault(name, {"ms": 0.0, "count": 0, "category": o["category"], "what": o["what"]})
            acc["ms"] += o["ms"]
            acc["count"] += o["count"]
    return {"framework": profiles[0]["framework"], "steps": sum(p["steps"] for p in profiles),
            "wall_ms": [w for p in profiles for w in p["wall_ms"]], "ops": ops}


def _median(xs):
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2) if n else float("nan")


def summarise(profile: dict, impl: str, bench_ms: float | None, top: int = 12) -> dict:
    """Per-step ms and share (of the sum of the ops) per category, the top ops, and the totals to check it by."""
    n = profile["steps"]
    cats = {c: 0.0 for c in CATEGORIES}
    for o in profile["ops"].values():
        cats[o["category"]] += o["ms"] / n
    total = sum(cats.values())
    top_ops = sorted(profile["ops"].items(), key=lambda kv: -kv[1]["ms"])[:top]
    return {"impl": impl, "steps": n, "ops_ms": total, "profiled_step_ms": _median(profile["wall_ms"]),
            "bench_median_ms": bench_ms,
            "categories": {c: {"ms": ms, "share": ms / total if total else 0.0} for c, ms in cats.items()},
            "top": [{"name": k, "category": o["category"], "ms": o["ms"] / n, "calls": o["count"] / n,
                     "share": (o["ms"] / n) / total if total else 0.0, "what": o["what"]} for k, o in top_ops]}


def compare(model: str, mode: str, jax_profiles: list[dict], torch_profiles: list[dict], jax_impl: str,
            torch_impl: str, jax_bench_ms: float | None = None, torch_bench_ms: float | None = None,
            top: int = 12) -> dict:
    """One model/mode entry: both summaries and, per COMPARE_GROUPS row, JAX minus torch in profiled ms per step
    and in ms scaled to the bench's medians (each side's category share x its bench median step time: the
    measured gap split by where each framework spends its step)."""
    j = summarise(merge_rounds(jax_profiles), jax_impl, jax_bench_ms, top)
    t = summarise(merge_rounds(torch_profiles), torch_impl, torch_bench_ms, top)
    diff = {}
    for group, members in COMPARE_GROUPS.items():
        jm = sum(j["categories"][c]["ms"] for c in members)
        tm = sum(t["categories"][c]["ms"] for c in members)
        js = sum(j["categories"][c]["share"] for c in members)
        ts = sum(t["categories"][c]["share"] for c in members)
        row = {"jax_ms": jm, "torch_ms": tm, "diff_ms": jm - tm, "jax_share": js, "torch_share": ts}
        if jax_bench_ms and torch_bench_ms:
            row["diff_scaled_ms"] = js * jax_bench_ms - ts * torch_bench_ms
        diff[group] = row
    return {"model": model, "mode": mode, "jax": j, "torch": t, "difference": diff}


def _f(x, spec=".1f"):
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def markdown(entries: list[dict], command: str = "", device: str = "") -> str:
    lines = ["# jrestore bench --profile-ops", ""]
    if command:
        lines.append(f"- command: `{command}`")
    if device:
        lines.append(f"- device: {device}")
    lines += ["- JAX: jax.profiler trace (XLA:CPU thunk events, one per HLO instruction, wall time on the thread "
              "that ran it; concurrent thunks both count); PyTorch: torch.profiler self CPU time per op "
              "(jrestore/bench/op_profile.py)",
              "- ms are per step, profiled right after the timed rounds (profiling slows both sides); share = of "
              "the sum of the ops. \"scaled\" = share x the bench's median step time, JAX minus torch: the "
              "measured gap split by category", ""]
    for e in entries:
        if "error" in e:
            lines += [f"## {e['model']} {e['mode']}: not profiled ({e['error']})", ""]
            continue
        j, t = e["jax"], e["torch"]
        lines += [f"## {e['model']} {e['mode']}: {j['impl']} against {t['impl']}", "",
                  f"Sum of ops / profiled step / bench median, ms per step: JAX {_f(j['ops_ms'])} / "
                  f"{_f(j['profiled_step_ms'])} / {_f(j['bench_median_ms'])}; torch {_f(t['ops_ms'])} / "
                  f"{_f(t['profiled_step_ms'])} / {_f(t['bench_median_ms'])}", "",
                  "| category | JAX ms | JAX share | torch ms | torch share | JAX - torch ms | scaled JAX - torch ms |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for group, d in e["difference"].items():
            if not (d["jax_ms"] or d["torch_ms"]):
                continue
            lines.append(f"| {LABELS[group]} | {_f(d['jax_ms'])} | {_f(100 * d['jax_share'], '.0f')} % | "
                         f"{_f(d['torch_ms'])} | {_f(100 * d['torch_share'], '.0f')} % | {_f(d['diff_ms'], '+.1f')} | "
                         f"{_f(d.get('diff_scaled_ms'), '+.1f')} |")
        split = {c: j["categories"][c] for c in ("conv_input_grad", "conv_filter_grad") if j["categories"][c]["ms"]}
        if split:
            lines += ["", "JAX's convolution backward: " + ", ".join(
                f"{LABELS[c]} {_f(v['ms'])} ms ({_f(100 * v['share'], '.0f')} %)" for c, v in split.items())]
        for side in (j, t):
            lines += ["", f"Top ops, {side['impl']}:", "", "| op | category | ms | calls | share | what |",
                      "|---|---|---:|---:|---:|---|"]
            for o in side["top"]:
                lines.append(f"| `{o['name'][:60]}` | {o['category']} | {_f(o['ms'], '.2f')} | "
                             f"{_f(o['calls'], '.0f')} | {_f(100 * o['share'], '.1f')} % | {o['what'][:90]} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write(entries: list[dict], out_dir, command: str = "", device: str = "") -> dict:
    """op_profile.json and op_profile.md under out_dir; returns {kind: path}."""
    from jrestore._io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"op_profile_json": out / "op_profile.json", "op_profile_md": out / "op_profile.md"}
    atomic_write_text(paths["op_profile_json"], json.dumps({"command": command, "device": device,
                                                            "entries": entries}, indent=1) + "\n")
    atomic_write_text(paths["op_profile_md"], markdown(entries, command, device))
    return paths


def rescale(entry: dict, jax_ms: float, torch_ms: float) -> dict:
    """{group: JAX share x jax_ms - torch share x torch_ms}: a profile's category shares applied to step times
    measured elsewhere (e.g. a quiet run's medians, when the profile was taken under load)."""
    return {group: d["jax_share"] * jax_ms - d["torch_share"] * torch_ms for group, d in entry["difference"].items()}


def main(argv=None) -> int:
    """python -m jrestore.bench.op_profile OP_PROFILE_JSON [--scale-to BENCH_JSON]: the per-category JAX - torch
    table of each entry; with --scale-to, the shares applied to that bench run's medians of the same impls."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m jrestore.bench.op_profile", description=main.__doc__)
    p.add_argument("profile", help="op_profile.json of a jrestore bench --profile-ops run")
    p.add_argument("--scale-to", metavar="BENCH_JSON", help="bench.json whose median step times to split")
    args = p.parse_args(argv)
    entries = [e for e in json.loads(Path(args.profile).read_text())["entries"] if "error" not in e]
    medians = {}
    if args.scale_to:
        for r in json.loads(Path(args.scale_to).read_text())["results"]:
            if "median_ms" in r:
                medians[(r["model"], r["mode"], r["impl"])] = r["median_ms"]
    groups = list(COMPARE_GROUPS)
    print("| model | mode | JAX ms | torch ms (impl) | " + " | ".join(LABELS[g] for g in groups) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(groups))
    for e in entries:
        j, t = e["jax"], e["torch"]
        jm = medians.get((e["model"], e["mode"], j["impl"])) if args.scale_to else j["bench_median_ms"]
        tm = medians.get((e["model"], e["mode"], t["impl"])) if args.scale_to else t["bench_median_ms"]
        if not (jm and tm):
            continue
        split = rescale(e, jm, tm)
        print(f"| {e['model']} | {e['mode']} | {jm:.1f} | {tm:.1f} ({t['impl']}) | "
              + " | ".join(f"{split[g]:+.1f}" for g in groups) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
