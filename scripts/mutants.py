#!/usr/bin/env python3
"""Mutation check: plant bugs that both twins would share, and confirm independent tests catch each one.

jrestore and torch_ref mirror each other, and many of their constants and helpers are shared (torch_ref
imports them), so a misreading planted in both at once passes every JAX-vs-PyTorch comparison. Each
mutation below is such a bug. For each one this script copies the project's files (git's tracked and
untracked-but-not-ignored files) into a temporary folder, applies the edits (each `old` text must occur
exactly once in its file, else the mutation is reported as NOT APPLIED: a refactor that moves the code
fails the check instead of letting the mutant "survive" unseen), and runs

    python -m pytest -q -x -p no:cacheprovider <the mutation's tests>

with PYTHONPATH at the copy. The tests listed for a mutation must compare against a reference that does not
import the code under test (a float64 NumPy formula, a literal from the original source, a third-party
library, a published figure), never only jrestore against torch_ref.

    caught      the tests failed (pytest exit status 1)
    SURVIVED    they passed: the suite does not see this bug
    ERROR       pytest could not run them (collection error, unknown test id, timeout, ...)
    NOT APPLIED an edit's old text is not in its file exactly once

Before the mutants, the same tests run once on the unmutated copy (skip with --no-baseline): they must pass
there, so that "caught" means the mutation, not a broken or skipped test. Exit status 0 only when the
baseline passed and every selected mutation was caught.

Usage:
    scripts/mutants                     # every mutation
    scripts/mutants --short             # the short list run by the test suite (tests/test_mutants.py)
    scripts/mutants --only adam_betas_swapped,imagenet_std_gb_swapped
    scripts/mutants --list              # ids, descriptions and tests
    scripts/mutants --each              # also require each listed test, alone, to catch its mutation
    scripts/mutants --only ID --tests NODE,...   # which tests catch it? (run other tests against one mutant)

Tests that need the reference data get it from $JRESTORE_DATA, else from ../shared/data beside this checkout
(the copy lives elsewhere, so the fallback is resolved here and passed on).

Adding a mutation: append a Mutation to MUTATIONS with a new id, a one-line description of the bug, the edits
(file relative to the project root, exact old text, new text; several edits for a bug planted in both
twins), and the pytest node ids of the independent tests that should catch it. Run
`scripts/mutants --only ID` and check it says caught. Keep a mutation in SHORT only if its tests take seconds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    id: str
    description: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "pixel_shuffle_tf_order",
        "pixel shuffle in TensorFlow's depth_to_space channel order (i, j, c) in both twins",
        (Edit("jrestore/ops/pixel_shuffle.py",
              "return x.reshape(n, h, w, c, r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c)",
              "return x.reshape(n, h, w, r, r, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, c)"),
         Edit("torch_ref/ops/pixel_shuffle.py",
              "return F.pixel_shuffle(x, r)",
              "return F.pixel_shuffle(x.unflatten(1, (r * r, -1)).transpose(1, 2).flatten(1, 2), r)")),
        ("jrestore/ops/pixel_shuffle_test.py::test_shuffle_matches_index_formula_and_unshuffle_inverts",
         "jrestore/ops/pixel_shuffle_test.py::test_channel_order_is_not_tensorflow_depth_to_space"),
    ),
    Mutation(
        "haar_subband_sign",
        "Haar DWT/IWT with the HL sub-band's sign flipped in both twins (round trip still exact)",
        (Edit("jrestore/ops/wavelet.py", "    hl = -x1 - x2 + x3 + x4\n", "    hl = x1 + x2 - x3 - x4\n"),
         Edit("jrestore/ops/wavelet.py",
              "    x1, x2, x3, x4 = (x[..., i * c:(i + 1) * c] / 2 for i in range(4))\n",
              "    x1, x2, x3, x4 = (x[..., i * c:(i + 1) * c] / 2 for i in range(4))\n    x2 = -x2\n"),
         Edit("torch_ref/ops/wavelet.py", "    hl = -x1 - x2 + x3 + x4\n", "    hl = x1 + x2 - x3 - x4\n"),
         Edit("torch_ref/ops/wavelet.py",
              "    x1, x2, x3, x4 = (x[:, i * c:(i + 1) * c] / 2 for i in range(4))\n",
              "    x1, x2, x3, x4 = (x[:, i * c:(i + 1) * c] / 2 for i in range(4))\n    x2 = -x2\n")),
        ("jrestore/ops/wavelet_test.py::test_dwt_matches_numpy_float64",
         "jrestore/ops/wavelet_test.py::test_iwt_matches_numpy_float64",
         "parity_tests/test_independent_references.py::test_haar_of_both_twins_against_the_textbook_filters"),
    ),
    Mutation(
        "bn_biased_running_var",
        "BatchNorm stores the biased batch variance in running_var (Flax's convention, not PyTorch's)",
        (Edit("jrestore/layers/norm.py", "self._update(mean, var * (n / (n - 1)))", "self._update(mean, var)"),),
        ("jrestore/layers/norm_test.py::test_three_train_steps_then_eval_match_numpy",
         "parity_tests/test_layers_parity.py::test_batchnorm_conventions_exposed_by_a_small_batch"),
    ),
    Mutation(
        "psnr_crop_top_left",
        "PSNR/SSIM crop_border shaves only the top and left borders, in both twins",
        (Edit("jrestore/metrics/psnr.py", "return a[:, crop:h - crop, crop:w - crop, :], b[:, crop:h - crop, crop:w - crop, :]",
              "return a[:, crop:, crop:, :], b[:, crop:, crop:, :]"),
         Edit("torch_ref/metrics/psnr.py", "return a[:, :, crop:h - crop, crop:w - crop], b[:, :, crop:h - crop, crop:w - crop]",
              "return a[:, :, crop:, crop:], b[:, :, crop:, crop:]")),
        ("jrestore/metrics/psnr_test.py::test_float64_matches_reference",
         "parity_tests/test_metrics_parity.py::test_torch_float64_matches_reference"),
    ),
    Mutation(
        "matlab_bicubic_a075",
        "MATLAB imresize's cubic kernel with a = -0.75 (PyTorch's) instead of -0.5 (torch_ref imports the weights)",
        (Edit("jrestore/core/ops/resize.py", "def _cubic(x: np.ndarray, a: float = -0.5)",
              "def _cubic(x: np.ndarray, a: float = -0.75)"),),
        ("jrestore/ops/resize_test.py::test_imresize_matches_per_pixel_matlab_loop",
         "parity_tests/test_independent_references.py::test_matlab_bicubic_of_both_twins_against_imresize_loop"),
    ),
    Mutation(
        "adam_betas_swapped",
        "Adam's beta1 and beta2 swapped in train/optim.py, for both optax and torch",
        (Edit("train/optim.py", "optax.adamw(schedule, b1=o.b1, b2=o.b2,", "optax.adamw(schedule, b1=o.b2, b2=o.b1,"),
         Edit("train/optim.py", "optax.adam(schedule, b1=o.b1, b2=o.b2,", "optax.adam(schedule, b1=o.b2, b2=o.b1,"),
         Edit("train/optim.py", "betas=(o.b1, o.b2)", "betas=(o.b2, o.b1)")),
        ("train/optim_test.py::test_optax_optimizer_follows_float64_reference",
         "parity_tests/test_optim_reference.py::test_torch_optimizer_follows_float64_reference"),
    ),
    Mutation(
        "imagenet_std_gb_swapped",
        "ImageNet std's G and B swapped in jrestore/models/vgg.py (torch_ref imports it)",
        (Edit("jrestore/core/models/vgg.py", "IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)",
              "IMAGENET_STD = np.array([0.229, 0.225, 0.224], np.float32)"),),
        ("jrestore/models/vgg_test.py::test_first_layer_sees_torchvision_imagenet_normalisation",
         "parity_tests/test_vgg_reference.py::test_first_layer_sees_torchvision_imagenet_normalisation"),
    ),
    # ---- further plausible cross-twin misreadings ----
    Mutation(
        "rgb2ycbcr_coefficient_typo",
        "MATLAB rgb2ycbcr's B-to-Y coefficient 24.966 typed as 24.996 (torch_ref imports the matrix)",
        (Edit("jrestore/core/ops/color.py", "MATLAB_RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.966],",
              "MATLAB_RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.996],"),),
        ("jrestore/ops/color_test.py::test_matlab_matches_formula_and_skimage",
         "jrestore/ops/color_test.py::test_matlab_known_values",
         "parity_tests/test_independent_references.py::test_colour_of_both_twins_against_the_original_coefficients",
         "parity_tests/test_independent_references.py::test_colour_known_values"),
    ),
    Mutation(
        "cs_block_pad_when_needed",
        "CS blocks padded only up to the next multiple (ISTA-Net always pads; torch_ref imports block_meta)",
        (Edit("jrestore/core/ops/cs_blocks.py",
              "height + block - height % block, width + block - width % block, block, batch)",
              "height + (-height) % block, width + (-width) % block, block, batch)"),),
        ("jrestore/ops/cs_blocks_test.py::test_always_pads_a_multiple_of_the_block",
         "parity_tests/test_independent_references.py::test_cs_block_layout_of_both_twins_against_the_test_script"),
    ),
    Mutation(
        "soft_threshold_no_abs",
        "soft threshold sign(x) * relu(x - t) (|x| forgotten: negative values vanish) in both twins",
        (Edit("jrestore/ops/shrinkage.py", "jnp.sign(x) * jax.nn.relu(jnp.abs(x) - threshold)",
              "jnp.sign(x) * jax.nn.relu(x - threshold)"),
         Edit("torch_ref/ops/shrinkage.py", "torch.sign(x) * torch.relu(torch.abs(x) - threshold)",
              "torch.sign(x) * torch.relu(x - threshold)")),
        ("jrestore/ops/shrinkage_test.py::test_scalar_threshold_matches_numpy",),
    ),
    Mutation(
        "prelu_init_flax",
        "PReLU's slope initialised to Flax's 0.01 instead of PyTorch's 0.25",
        (Edit("jrestore/layers/activation.py", "num_parameters: int = 1, init: float = 0.25,",
              "num_parameters: int = 1, init: float = 0.01,"),),
        ("jrestore/layers/activation_test.py::test_prelu_init_and_per_channel_slopes",),
    ),
    Mutation(
        "adamw_as_l2",
        "AdamW built as Adam with coupled L2 weight decay, for both optax and torch",
        (Edit("train/optim.py",
              "parts.append(optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=float(o.weight_decay)))",
              "parts += [optax.add_decayed_weights(float(o.weight_decay)),\n"
              "                  optax.adam(schedule, b1=o.b1, b2=o.b2, eps=o.eps)]"),
         Edit("train/optim.py", "opt = torch.optim.AdamW(params, weight_decay=float(o.weight_decay), **kw)",
              "opt = torch.optim.Adam(params, weight_decay=float(o.weight_decay), **kw)")),
        ("train/optim_test.py::test_optax_optimizer_follows_float64_reference[adamw]",
         "parity_tests/test_optim_reference.py::test_torch_optimizer_follows_float64_reference[adamw]"),
    ),
    Mutation(
        "multistep_one_update_late",
        "MultiStepLR decays one update after each milestone, for both optax and torch",
        (Edit("train/optim.py", "sum(step >= m for m in sched.milestones)", "sum(step > m for m in sched.milestones)"),
         Edit("train/optim.py", "{int(m): float(sched.gamma) for m in sched.milestones}",
              "{int(m) + 1: float(sched.gamma) for m in sched.milestones}")),
        ("train/optim_test.py::test_optax_optimizer_follows_float64_reference[adam_multistep]",
         "parity_tests/test_optim_reference.py::test_torch_optimizer_follows_float64_reference[adam_multistep]"),
    ),
    Mutation(
        "config_adam_b2_typo",
        "the recipes' default Adam beta2 typed as 0.99 instead of 0.999 (both trainers read it)",
        (Edit("train/configs/common.py", 'c.optim = ConfigDict({"name": "adam", "lr": 1e-4, "b1": 0.9, "b2": 0.999,',
              'c.optim = ConfigDict({"name": "adam", "lr": 1e-4, "b1": 0.9, "b2": 0.99,'),),
        ("train/optim_test.py::test_recipe_optimiser_matches_its_source",),
    ),
    Mutation(
        "vgg_relu_before_conv_names",
        "VGG's name table puts relu{b}_{l} before conv{b}_{l}: conv5_4 would tap after its ReLU (shared table)",
        (Edit("jrestore/core/models/vgg.py", 'names += [f"conv{b}_{i}", f"relu{b}_{i}"]',
              'names += [f"relu{b}_{i}", f"conv{b}_{i}"]'),),
        ("jrestore/models/vgg_test.py::test_layer_table_matches_torchvision_indices",),
    ),
)

# run by tests/test_mutants.py: one shared-constant, one optimizer and two op mutations, seconds each
SHORT = ("adam_betas_swapped", "imagenet_std_gb_swapped", "matlab_bicubic_a075", "haar_subband_sign")


# what the tests need when the project is not a git checkout (e.g. an unpacked source archive)
FALLBACK_PATHS = ("conftest.py", "pyproject.toml", "jrestore", "torch_ref", "parity_tests", "tests", "train", "scripts")


def project_files(root: Path) -> list[str]:
    """Tracked plus untracked-but-not-ignored files (what a commit of the working tree would hold); outside a
    git checkout, the files under FALLBACK_PATHS without bytecode caches."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             check=True, capture_output=True).stdout.decode()
        return sorted({f for f in out.split("\0") if f and (root / f).is_file()})
    except (OSError, subprocess.CalledProcessError):
        files = []
        for top in FALLBACK_PATHS:
            path = root / top
            found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            files += [str(p.relative_to(root)) for p in found if "__pycache__" not in p.parts]
        return files


def copy_tree(root: Path, files: list[str], dest: Path) -> None:
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, dest / f)


def apply_edits(tree: Path, mutation: Mutation) -> str | None:
    """Apply every edit in `tree`; None on success, else why it could not be applied (nothing is left
    half-applied that matters: the copy is thrown away)."""
    for e in mutation.edits:
        path = tree / e.file
        if not path.is_file():
            return f"{e.file}: no such file"
        text = path.read_text()
        count = text.count(e.old)
        if count != 1:
            return f"{e.file}: old text found {count} times, expected exactly once: {e.old!r}"
        path.write_text(text.replace(e.old, e.new))
    for file in sorted({e.file for e in mutation.edits if e.file.endswith(".py")}):
        try:  # a mutant that does not parse would fail its tests for the wrong reason
            compile((tree / file).read_text(), file, "exec")
        except SyntaxError as err:
            return f"{file}: the mutated file is not valid Python ({err})"
    return None


def data_env() -> dict:
    """JRESTORE_DATA as the tests in this checkout would resolve it (the copy has no ../shared beside it)."""
    env = os.environ.get("JRESTORE_DATA")
    if env:
        return {"JRESTORE_DATA": env}
    fallback = ROOT.parent / "shared" / "data"
    return {"JRESTORE_DATA": str(fallback)} if fallback.is_dir() else {}


def run_pytest(tree: Path, tests, timeout: float) -> tuple[int | None, str]:
    """(pytest's exit status or None on timeout, its output) for `tests` run in `tree`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not the outer pytest's xdist
    env.update(data_env(), PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return proc.returncode, proc.stdout + proc.stderr


def check_imports_from(tree: Path) -> None:
    """The copy's packages, not an installed jrestore, must be the ones the tests import."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    code = "import jrestore, train, parity_tests; print(jrestore.__file__, train.__file__, parity_tests.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    stray = [p for p in out if not Path(p).resolve().is_relative_to(tree.resolve())]
    if stray:
        raise SystemExit(f"mutants: the copy's tests would import {stray}, not the copy in {tree}")


def run_mutant(tree: Path, tests, timeout: float) -> tuple[str, str]:
    """(status, detail) of running `tests` on a mutated tree: caught / SURVIVED / ERROR."""
    rc, out = run_pytest(tree, tests, timeout)
    status = {0: "SURVIVED", 1: "caught", None: "ERROR"}.get(rc, "ERROR")
    if rc == 1:
        return status, first_failure(out)
    if status == "ERROR":
        print(out[-3000:])
    return status, f"timeout after {timeout:.0f} s" if rc is None else (out.strip().splitlines() or [""])[-1][:160]


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:160]
    return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    ap.add_argument("--only", default="", help="comma-separated mutation ids")
    ap.add_argument("--short", action="store_true", help=f"the short list: {', '.join(SHORT)}")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unmutated copy")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run (default 600)")
    ap.add_argument("--tests", default="",
                    help="comma-separated pytest node ids to run instead of the listed ones (exploring which "
                         "tests catch a mutation; with --only)")
    ap.add_argument("--each", action="store_true",
                    help="also run each listed test alone: every one of them must catch its mutation")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies (their paths are printed)")
    args = ap.parse_args(argv)

    by_id = {m.id: m for m in MUTATIONS}
    if len(by_id) != len(MUTATIONS):
        raise SystemExit("mutants: duplicate mutation ids")
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in by_id]
        if unknown:
            ap.error(f"--only: unknown mutation id(s) {unknown}; valid: {', '.join(by_id)}")
        selected = [by_id[w] for w in wanted]
    elif args.short:
        selected = [by_id[s] for s in SHORT]
    else:
        selected = list(MUTATIONS)

    if args.tests:
        if not args.only:
            ap.error("--tests: needs --only (the mutations whose tests it replaces)")
        tests = tuple(t.strip() for t in args.tests.split(",") if t.strip())
        selected = [Mutation(m.id, m.description, m.edits, tests) for m in selected]

    if args.list:
        for m in selected:
            print(f"{m.id}{'  [short]' if m.id in SHORT else ''}\n    {m.description}")
            for e in m.edits:
                print(f"    edit {e.file}")
            for t in m.tests:
                print(f"    test {t}")
        return 0

    files = project_files(ROOT)
    work = Path(tempfile.mkdtemp(prefix="jrestore-mutants-"))
    start = time.monotonic()
    results = []
    try:
        if not args.no_baseline:
            base = work / "baseline"
            copy_tree(ROOT, files, base)
            check_imports_from(base)
            tests = sorted({t for m in selected for t in m.tests})
            t0 = time.monotonic()
            rc, out = run_pytest(base, tests, args.timeout)
            summary = out.strip().splitlines()[-1] if out.strip() else ""
            print(f"baseline (unmutated, {len(tests)} test ids): rc {rc}, {time.monotonic() - t0:.1f} s: {summary}",
                  flush=True)
            if rc != 0 or " skipped" in summary:
                print(out[-4000:])
                print("mutants: the tests must pass (none skipped) on the unmutated tree; nothing else was run")
                return 1
        for m in selected:
            tree = work / m.id
            copy_tree(ROOT, files, tree)
            t0 = time.monotonic()
            problem = apply_edits(tree, m)
            if problem:
                status, detail = "NOT APPLIED", problem
            else:
                status, detail = run_mutant(tree, m.tests, args.timeout)
                if args.each and status == "caught" and len(m.tests) > 1:  # each listed test alone, too
                    for test in m.tests:
                        alone, why = run_mutant(tree, (test,), args.timeout)
                        if alone != "caught":
                            status, detail = alone, f"{test} alone: {alone} {why}"
                            break
                    else:
                        detail = f"by each of {len(m.tests)} test ids alone; {detail}"
            seconds = time.monotonic() - t0
            results.append((m.id, status, seconds))
            print(f"{status:11s} {m.id:28s} {seconds:6.1f} s  {detail}", flush=True)
            if not args.keep:
                shutil.rmtree(tree, ignore_errors=True)
    finally:
        if args.keep:
            print(f"copies kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    bad = [(i, s) for i, s, _ in results if s != "caught"]
    print(f"\n{len(results) - len(bad)} of {len(results)} mutations caught in {time.monotonic() - start:.0f} s"
          + (f"; not caught: {', '.join(f'{i} ({s})' for i, s in bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
