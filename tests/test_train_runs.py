"""Whole training runs as users start them (`python -m train`), in real processes: outputs on disk, 8 fake
devices and 2 jax.distributed processes against 1 device, SIGKILL + restart against an uninterrupted run,
SIGTERM, and a diverging loss (more faults: tests/test_faults_train.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jrestore.parity.tolerances import TRAIN_LOSS_DEVICES, TRAIN_WEIGHTS_DEVICES, VAL_PSNR_PROCESSES
from parity_tests.test_trainer_parity import _feeds_bn as feeds_bn

# one worker runs them all: the baseline run is shared, and the processes they start need the cores

pytestmark = pytest.mark.xdist_group("train_runs")
ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "model.kwargs.nc=8", "--set", "model.kwargs.nb=4", "--set", "train.log_every=1",
         "--set", "val.source=''"]


def launch(workdir, steps: int, *extra, env=None, ckpt_every: int = 4) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "train", "--config", "dncnn_s25:runlocal", "--workdir", str(workdir), *SMALL,
           "--set", f"train.steps={steps}", "--set", f"train.ckpt_every={ckpt_every}", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: int = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def losses(workdir) -> dict[int, float]:
    rows = [json.loads(x) for x in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def final_params(workdir) -> dict:
    """The latest checkpoint's parameters, restored onto this process's one device whatever the topology
    that saved them (8 devices, 2 processes)."""
    import jax
    import orbax.checkpoint as ocp

    step = max(int(p.name) for p in (Path(workdir) / "checkpoints").iterdir() if p.name.isdigit())
    path = (Path(workdir) / "checkpoints" / str(step) / "state").absolute()
    one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as ckptr:
        meta = ckptr.metadata(path).item_metadata
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one), meta)
        got = ckptr.restore(path, target)
    rest = got["rest"]
    out = {".".join(str(p.key) for p in k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(got["params"])}
    out.update({".".join(str(p.key) for p in k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(rest)})
    return out


def assert_same_weights(got: dict, want: dict, atol: float = TRAIN_WEIGHTS_DEVICES) -> None:
    """Equal weights, except the gauge freedoms of BatchNorm (see parity_tests/test_trainer_parity.py): biases
    feeding BN, which Adam moves by float noise, and the running means they shift; the matching losses cover those."""
    assert got.keys() == want.keys()
    for k in want:
        if not (k.endswith("running_mean") or feeds_bn(k, want)):
            np.testing.assert_allclose(got[k], want[k], rtol=0, atol=atol, err_msg=k)


def wait_for_step(workdir, step: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.time() + timeout
    while time.time() < end:
        path = Path(workdir) / "metrics.jsonl"
        if path.is_file() and max(losses(workdir) or {0: 0}) >= step:
            return
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    raise TimeoutError(f"step {step} not reached")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """One device, one process, 40 steps."""
    workdir = tmp_path_factory.mktemp("baseline")
    finish(launch(workdir, 40))
    return workdir


def test_run_writes_metrics_tensorboard_samples_plot_and_checkpoints(tmp_path):
    from train.config import load_config
    from train.trainer import Trainer

    cfg = load_config("dncnn_s25:runlocal", ["model.kwargs.nc=8", "model.kwargs.nb=4", "train.steps=10",
                                             "train.val_every=5", "train.log_every=5"])
    last = Trainer(cfg, tmp_path, progress=False).run()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [5, 10]
    assert all({"loss", "lr", "grad_norm", "steps_per_s"} <= r.keys() for r in rows if "loss" in r)
    vals = [r for r in rows if "val_psnr" in r]
    assert [r["step"] for r in vals] == [5, 10] and all(5 < r["val_psnr"] < 40 for r in vals)
    assert last["val_psnr"] == vals[-1]["val_psnr"]
    from train.reporting import read_events
    events = read_events(tmp_path / "tb")
    tags = {(v.tag, e.step) for e in events for v in e.summary.value}
    assert {(t, s) for t in ("train/loss", "train/lr", "train/grad_norm", "train/steps_per_s") for s in (5, 10)} <= tags
    assert {(t, s) for t in ("val/psnr", "val/ssim", "val/samples") for s in (5, 10)} <= tags
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= {t for t, _ in tags}
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_00000005.png", "step_00000010.png"]
    assert (tmp_path / "curves.png").stat().st_size > 5000
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [5, 10]


def test_eight_fake_devices_match_one(baseline, tmp_path):
    finish(launch(tmp_path, 40, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}))
    one, eight = losses(baseline), losses(tmp_path)
    np.testing.assert_allclose([eight[s] for s in sorted(one)], [one[s] for s in sorted(one)], rtol=TRAIN_LOSS_DEVICES)
    assert_same_weights(final_params(tmp_path), final_params(baseline))


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def write_val_folder(folder) -> Path:
    """Five 48x56 grey crops of scikit-image photos (one size: one compilation): 2 processes score 3 and 2."""
    from PIL import Image
    from skimage import data

    folder = Path(folder)
    folder.mkdir()
    photos = [data.camera(), data.coins(), data.moon(), data.page(), data.text()]
    for i, photo in enumerate(photos):
        Image.fromarray(np.ascontiguousarray(photo[:48, :56])).save(folder / f"val{i}.png")
    return folder


def val_args(folder) -> list[str]:
    return ["--set", "val.source=folder", "--set", f"val.path={folder}", "--set", "val.protocol=kair_dncnn",
            "--set", "train.val_every=40", "--set", "val.limit=0"]


def one_process_validation(workdir, folder) -> dict:
    """Mean PSNR / SSIM of WORKDIR/model.safetensors on the validation folder, in this one process, through the
    evaluation code (build_task + the protocol's samples + score), not the trainer's validate()."""
    from jrestore.evaluation.evaluate import score
    from jrestore.evaluation.protocol_data import load_samples
    from jrestore.inference import build_task

    task = build_task("dncnn", Path(workdir) / "model.safetensors", sigma=25, frameworks=("jax",))
    samples = load_samples(folder, "kair_dncnn", kind="denoise", channels=1, sigma=25)
    scores = [score(task.restore(s.inputs, "jax"), s.target, "kair_dncnn", 1, "jax") for s in samples]
    noisy = [score(s.inputs, s.target, "kair_dncnn", 1, "jax")[0] for s in samples]
    return {"val_psnr": np.mean([p for p, _ in scores]), "val_ssim": np.mean([q for _, q in scores]),
            "val_input_psnr": np.mean(noisy), "images": len(samples)}


def test_two_processes_match_one(baseline, tmp_path):
    """--coordinator flags; validation at step 40 split over the 2 processes (3 + 2 images) and gathered."""
    folder = write_val_folder(tmp_path / "val")
    port = free_port()
    procs = [launch(tmp_path / "run", 40, *val_args(folder), "--coordinator", f"localhost:{port}",
                    "--num-processes", "2", "--process-id", str(i)) for i in range(2)]
    for p in procs:
        finish(p)
    one, two = losses(baseline), losses(tmp_path / "run")
    np.testing.assert_allclose([two[s] for s in sorted(one)], [one[s] for s in sorted(one)], rtol=TRAIN_LOSS_DEVICES)
    assert_same_weights(final_params(tmp_path / "run"), final_params(baseline))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_psnr" in r]
    assert [r["step"] for r in val] == [40]
    want = one_process_validation(tmp_path / "run", folder)
    assert want["images"] == 5
    assert val[0]["val_images_per_process"] == [3, 2]  # each process scored its share, not the whole set
    for key in ("val_psnr", "val_ssim", "val_input_psnr"):
        assert abs(val[0][key] - want[key]) <= VAL_PSNR_PROCESSES, (key, val[0][key], want[key])
    # sigma 25 noise on 8-bit images: about 20.2 dB before clipping, a little more after
    assert 19.5 < val[0]["val_input_psnr"] < 22.5 and val[0]["val_psnr"] != val[0]["val_input_psnr"]


def test_distributed_auto_detects_a_slurm_job(tmp_path):
    """--distributed auto under SLURM's environment (two tasks as srun starts them): JAX's own detection joins
    the 2 processes, with no coordinator flag; validation is split and gathered as with the flags."""
    folder = write_val_folder(tmp_path / "val")
    port = free_port()
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2",
             "SLURM_LOCALID": "0", "JAX_COORDINATOR_PORT": str(port)}
    procs = [launch(tmp_path / "run", 4, "--set", "val.source=folder", "--set", f"val.path={folder}",
                    "--set", "train.val_every=4", "--set", "val.limit=0", "--distributed", "auto", env={**slurm, "SLURM_PROCID": str(i)})
             for i in range(2)]
    outs = [finish(p) for p in procs]
    assert "2 device(s), 2 process(es)" in outs[0]
    val = [r for r in (json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
           if "val_psnr" in r]
    assert [r["step"] for r in val] == [4] and val[0]["val_images_per_process"] == [3, 2]


def test_distributed_auto_without_a_cluster_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR", "TPU_"))}
    proc = subprocess.run([sys.executable, "-m", "train", "--config", "dncnn_s25:runlocal", "--workdir", str(tmp_path),
                           "--distributed", "auto"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "jrestore train: error: --distributed auto: no cluster found (JAX detects Cloud TPU pod slices, SLURM srun "
        "tasks, GKE TPU jobs and Open MPI mpirun); run under one of them, or pass --coordinator HOST:PORT "
        "--num-processes N --process-id I"], proc.stderr


def test_sigkill_then_restart_ends_like_an_uninterrupted_run(baseline, tmp_path):
    proc = launch(tmp_path, 40)
    wait_for_step(tmp_path, 13, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert max(losses(tmp_path)) < 40
    out = finish(launch(tmp_path, 40))
    assert "step=40" in out
    a, b = final_params(baseline), final_params(tmp_path)
    for k in a:
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)
    # the log was rewound to the restored step, then continued: one line per step, the uninterrupted values
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41))
    np.testing.assert_array_equal(list(losses(tmp_path).values()), list(losses(baseline).values()))


def test_sigterm_saves_and_stops_cleanly(tmp_path):
    proc = launch(tmp_path, 10_000, ckpt_every=1000)
    wait_for_step(tmp_path, 3, proc)
    proc.send_signal(signal.SIGTERM)
    out = finish(proc, timeout=60)
    assert "SIGTERM: saved step" in out
    stopped = int(out.split("SIGTERM: saved step ")[1].split()[0])
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved == [stopped] and 3 <= stopped < 10_000


def test_diverging_loss_stops_with_a_message_naming_a_finite_checkpoint(tmp_path):
    proc = launch(tmp_path, 30, "--set", "optim.lr=1e30", ckpt_every=1)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 2, out[-2000:]
    message = [ln for ln in out.splitlines() if "are not finite" in ln]
    assert message and "the update was not applied" in message[0], out[-2000:]
    bad_step = int(message[0].split("error: step ")[1].split(":")[0])
    named = int(message[0].split("Checkpoint with every value finite: ")[1].split("(step ")[1].split(")")[0])
    params = final_params(tmp_path)
    assert all(np.isfinite(v).all() for v in params.values())
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and max(saved) == named == bad_step - 1  # checkpoints every step: the one before the failure


def test_validation_shares_cover_every_image_once_and_gathering_checks_it():
    from train.trainer import gather_scores, val_share

    shares = [val_share(7, p, 3) for p in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    rows = np.array([[i, 20.0 + i, 0.5, 19.0] for i in (2, 0, 1)])  # one process, any order: image order back
    got = gather_scores(rows, 3)
    np.testing.assert_array_equal(got["psnr"], [20.0, 21.0, 22.0])
    np.testing.assert_array_equal(got["count"], [3])
    with pytest.raises(RuntimeError, match="expected 0 .. 3 once each"):
        gather_scores(rows, 4)  # an image nobody scored
    with pytest.raises(RuntimeError, match="once each"):
        gather_scores(np.concatenate([rows, rows[:1]]), 3)  # one scored twice
