"""`jrestore eval` reproduces the PSNRs the authors' own code gives on the official checkpoints
(../shared/data/expected_psnr.json), in JAX and in PyTorch, through the command users run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jrestore.cli import main
from parity_tests import tolerances

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


@pytest.mark.parametrize("key,args", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_eval_reproduces_published_psnr(shared_data, capsys, key, args):
    expected = json.loads((shared_data / "expected_psnr.json").read_text())[key]
    out = run_eval(shared_data, args, capsys)
    assert out["model"] == args[1] and set(out["results"]) == {"jax", "torch"}
    for fw, res in out["results"].items():
        per = {SET5.get(k, k): v for k, v in res["per_image"].items()}
        assert per.keys() == expected["per_image"].keys()
        for name, value in per.items():
            assert abs(value - expected["per_image"][name]) <= tolerances.PSNR_PUBLISHED_DB, (fw, name, value)
        assert abs(res["mean_psnr"] - expected["mean"]) <= tolerances.PSNR_PUBLISHED_MEAN_DB, (fw, res["mean_psnr"])
        assert 0.5 < res["mean_ssim"] < 1.0
    jax_res, torch_res = out["results"]["jax"]["per_image"], out["results"]["torch"]["per_image"]
    gaps = {k: abs(jax_res[k] - torch_res[k]) for k in jax_res}
    assert max(gaps.values()) <= tolerances.PSNR_CROSS_FRAMEWORK_DB, gaps


def test_eval_bicubic_on_pairs_and_on_a_plain_hr_folder(shared_data, capsys, tmp_path):
    """The same command on another scale and on a user's plain HR folder (LR made by MATLAB imresize)."""
    expected = json.loads((shared_data / "expected_psnr.json").read_text())["bicubic_set5_selfexsr"]["x4"]
    pairs = run_eval(shared_data, ["--model", "bicubic", "--protocol", "selfexsr", "--data", "sr/Set5", "--scale", "4",
                                   "--framework", "jax"], capsys)["results"]["jax"]
    assert abs(pairs["mean_psnr"] - expected) <= 0.01
    for p in sorted((shared_data / "sr" / "Set5" / "image_SRF_4").glob("*_HR.png")):
        (tmp_path / p.name.replace("_SRF_4_HR", "")).write_bytes(p.read_bytes())
    assert main(["eval", "--json", "--model", "bicubic", "--protocol", "selfexsr", "--data", str(tmp_path),
                 "--scale", "4", "--framework", "jax"]) == 0
    plain = json.loads(capsys.readouterr().out)["results"]["jax"]
    assert sorted(plain["per_image"]) == [f"img_00{i}.png" for i in range(1, 6)]
    # the shipped LR images were made by MATLAB's imresize from these HR images: the same numbers
    np.testing.assert_allclose(sorted(plain["per_image"].values()), sorted(pairs["per_image"].values()), atol=0.01)


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
