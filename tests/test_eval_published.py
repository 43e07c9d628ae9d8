"""`jrestore eval` reproduces the PSNRs the authors' own code gives on the official checkpoints
(../shared/data/expected_psnr.json), in JAX and in PyTorch, through the command users run."""
from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.metrics import structural_similarity

import jrestore.evaluation.evaluate as evaluate_module
from jrestore.cli import main
from jrestore.parity import tolerances

CS_MODELS = "cs/ista_net/model"
PUBLISHED = [  # (expected_psnr.json key, eval arguments relative to the data folder)
    ("ista_net_plus_set11_ratio_25", ["--model", "ista_net_plus", "--protocol", "ista_net", "--data", "cs/Set11",
                                      "--cs-ratio", "25", "--cs-matrices", "cs/ista_net/sampling_matrix", "--weights",
                                      f"{CS_MODELS}/CS_ISTA_Net_plus_layer_9_group_1_ratio_25_lr_0.0001/net_params_200.pkl"]),
    ("ista_net_plus_set11_ratio_10", ["--model", "ista_net_plus", "--protocol", "ista_net", "--data", "cs/Set11",
                                      "--cs-ratio", "10", "--cs-matrices", "cs/ista_net/sampling_matrix", "--weights",
                                      f"{CS_MODELS}/CS_ISTA_Net_plus_layer_9_group_1_ratio_10_lr_0.0001/net_params_200.pkl"]),
    ("ista_net_set11_ratio_25", ["--model", "ista_net", "--protocol", "ista_net", "--data", "cs/Set11",
                                 "--cs-ratio", "25", "--cs-matrices", "cs/ista_net/sampling_matrix", "--weights",
                                 f"{CS_MODELS}/CS_ISTA_Net_layer_9_group_1_ratio_25_lr_0.0001/net_params_200.pkl"]),
    ("dncnn_25_set12_sigma25", ["--model", "dncnn", "--protocol", "kair_dncnn", "--data", "denoise/Set12",
                                "--sigma", "25", "--weights", "denoise/weights/dncnn_25.pth"]),
    ("fsrcnn_x3_set5", ["--model", "fsrcnn", "--protocol", "yjn870", "--data", "sr/Set5", "--scale", "3",
                        "--weights", "sr/weights/fsrcnn_x3.pth"]),
]
SET5 = {"img_001": "baby", "img_002": "bird", "img_003": "butterfly", "img_004": "head", "img_005": "woman"}


def run_eval(shared_data, args, capsys) -> dict:
    paths = {"--data", "--cs-matrices", "--weights"}
    argv = ["eval", "--json"] + [str(shared_data / a) if prev in paths else a for prev, a in zip([""] + args, args)]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _skimage_ssim(restored: np.ndarray, target: np.ndarray, protocol: str) -> float:
    """SSIM by scikit-image under each protocol's own preparation, written out here from its source script.

    restored, target: [H, W, C] float in [0, 1] as jrestore.evaluation.evaluate.score receives them.
    ista_net: ISTA-Net-PyTorch calls skimage compare_ssim(X_rec * 255, Iorg, data_range=255) with its
    defaults (7x7 uniform window, sample covariance) on the grey image, reconstruction clipped, not rounded.
    kair_dncnn: KAIR util.calculate_ssim (Wang et al.: 11x11 Gaussian, sigma 1.5, population covariance,
    valid window) on uint8 images = skimage with gaussian_weights, sigma 1.5, use_sample_covariance=False.
    yjn870: the same Gaussian SSIM on Y = 16 + (64.738 R + 129.057 G + 25.064 B) / 256 (0..255 floats; the
    model restores that Y itself, then both images are 1-channel), the prediction clamped to [0, 1]; that
    repository reports PSNR only, so skimage is the reference.
    """
    a, b = np.clip(restored.astype(np.float64), 0, 1) * 255, target.astype(np.float64) * 255
    gaussian = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if protocol == "ista_net":
        assert a.shape[-1] == 1, "Set11 is grey: the colour (cv2 uint8 Y) path is not exercised here"
        return float(structural_similarity(a[..., 0], b[..., 0], data_range=255))
    if protocol == "kair_dncnn":
        assert a.shape[-1] == 1
        return float(structural_similarity(np.round(a[..., 0]), np.round(b[..., 0]), data_range=255, **gaussian))
    if protocol == "yjn870":  # FSRCNN restores Y only: then both images are already that Y
        y = [x[..., 0] if x.shape[-1] == 1 else 16 + (64.738 * x[..., 0] + 129.057 * x[..., 1] + 25.064 * x[..., 2]) / 256
             for x in (a, b)]
        return float(structural_similarity(y[0], y[1], data_range=255, **gaussian))
    raise AssertionError(f"no scikit-image reference written for protocol {protocol!r}")


@pytest.mark.parametrize("key,args", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_eval_reproduces_published_psnr(shared_data, capsys, monkeypatch, key, args):
    expected = json.loads((shared_data / "expected_psnr.json").read_text())[key]
    scored = {}  # (framework, image) -> SSIM by scikit-image of exactly the pair that eval scored
    original_score = evaluate_module.score

    def recording_score(restored, target, protocol, scale, framework):
        scored[framework, len(scored)] = _skimage_ssim(restored, target, protocol)
        return original_score(restored, target, protocol, scale, framework)

    monkeypatch.setattr(evaluate_module, "score", recording_score)
    out = run_eval(shared_data, args, capsys)
    assert out["model"] == args[1] and set(out["results"]) == {"jax", "torch"}
    for fw, res in out["results"].items():
        per = {SET5.get(k, k): v for k, v in res["per_image"].items()}
        assert per.keys() == expected["per_image"].keys()
        for name, value in per.items():
            assert abs(value - expected["per_image"][name]) <= tolerances.PSNR_PUBLISHED_DB, (fw, name, value)
        assert abs(res["mean_psnr"] - expected["mean"]) <= tolerances.PSNR_PUBLISHED_MEAN_DB, (fw, res["mean_psnr"])
        # SSIM: none of these authors publishes per-image SSIM on these files, so scikit-image under the
        # same protocol is the reference, image by image (eval scores images in order, each framework in turn)
        reference = [v for (f, _), v in sorted(scored.items(), key=lambda kv: kv[0][1]) if f == fw]
        ours = list(res["per_image_ssim"].values())
        assert len(ours) == len(reference) == len(per)
        gaps = {name: abs(o - r) for name, o, r in zip(res["per_image_ssim"], ours, reference)}
        assert max(gaps.values()) <= tolerances.SSIM_SKIMAGE, (fw, gaps)
        assert min(ours) > 0.5  # a sanity floor: these are good reconstructions
    jax_res, torch_res = out["results"]["jax"]["per_image"], out["results"]["torch"]["per_image"]
    gaps = {k: abs(jax_res[k] - torch_res[k]) for k in jax_res}
    assert max(gaps.values()) <= tolerances.PSNR_CROSS_FRAMEWORK_DB, gaps


def test_eval_bicubic_on_pairs_and_on_a_plain_hr_folder(shared_data, capsys, tmp_path):
    """The same command on another scale and on a user's plain HR folder (LR made by MATLAB imresize)."""
    expected = json.loads((shared_data / "expected_psnr.json").read_text())["bicubic_set5_selfexsr"]["x4"]
    pairs = run_eval(shared_data, ["--model", "bicubic", "--protocol", "selfexsr", "--data", "sr/Set5", "--scale", "4",
                                   "--framework", "jax"], capsys)["results"]["jax"]
    assert abs(pairs["mean_psnr"] - expected) <= tolerances.PSNR_PUBLISHED_DB
    for p in sorted((shared_data / "sr" / "Set5" / "image_SRF_4").glob("*_HR.png")):
        (tmp_path / p.name.replace("_SRF_4_HR", "")).write_bytes(p.read_bytes())
    assert main(["eval", "--json", "--model", "bicubic", "--protocol", "selfexsr", "--data", str(tmp_path),
                 "--scale", "4", "--framework", "jax"]) == 0
    plain = json.loads(capsys.readouterr().out)["results"]["jax"]
    assert sorted(plain["per_image"]) == [f"img_00{i}.png" for i in range(1, 6)]
    # the shipped LR images were made by MATLAB's imresize from these HR images: the same numbers
    np.testing.assert_allclose(sorted(plain["per_image"].values()), sorted(pairs["per_image"].values()),
                               atol=tolerances.PSNR_PUBLISHED_DB)


def test_eval_errors_are_one_line(shared_data, capsys):
    fsrcnn = str(shared_data / "sr" / "weights" / "fsrcnn_x3.pth")
    cases = [
        # FSRCNN's weights do not say their factor and a file name is no evidence: --scale is required
        (["--model", "fsrcnn", "--weights", fsrcnn, "--protocol", "yjn870",
          "--data", str(shared_data / "sr" / "Set5")], "--scale: fsrcnn needs the SR factor"),
        (["--model", "fsrcnn", "--weights", fsrcnn, "--scale", "3", "--protocol", "kair_dncnn",
          "--data", str(shared_data / "sr" / "Set5")], "'kair_dncnn' evaluates denoise models"),
        (["--model", "dncnn", "--weights", str(shared_data / "denoise" / "weights" / "dncnn_25.pth"),
          "--protocol", "kair_dncnn", "--data", str(shared_data / "denoise" / "Set12")], "--sigma"),
        (["--model", "dncnn", "--weights", str(shared_data / "denoise" / "weights" / "dncnn_25.pth"), "--sigma", "25",
          "--protocol", "nonsense", "--data", str(shared_data / "denoise" / "Set12")], "protocol: expected one of"),
    ]
    for args, message in cases:
        assert main(["eval"] + args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
