"""Fault corpus of `jrestore train` (issue 12, items 3 and 4), built at test time: damaged checkpoints, a
diverging learning rate, two trainers on one workdir, stale locks, Ctrl-C, SIGTERM right after a checkpoint,
a restart after a kill before the first checkpoint, and configuration mistakes. Every case asserts the exit
status, exactly one line of explanation and no traceback, and that nothing good was lost or silently wrong
(restored values equal the verified checkpoint's, byte for byte; rejected checkpoints are kept aside).

One small DnCNN run (6 steps, checkpoints every 2, keep 1) is trained once per module and copied per test;
the damaged-checkpoint cases only restore (no compilation), so the file runs in about a minute on one core.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jrestore.cli import main as jrestore_main
from train import integrity
from train.config import load_config
from train.trainer import Trainer

pytestmark = pytest.mark.xdist_group("train_faults")  # one worker: the trained workdir is shared
ROOT = Path(__file__).resolve().parents[1]
SMALL = ["model.kwargs.nc=8", "model.kwargs.nb=4", "train.log_every=1", "val.source=''", "train.ckpt_every=2",
         "train.keep=1"]


def small_cfg(*extra):
    return load_config("dncnn_s25:runlocal", SMALL + ["train.steps=6", *extra])


def cli(workdir, *sets, steps: int = 6) -> list[str]:
    """argv of `jrestore train` on the small config."""
    argv = ["train", "--config", "dncnn_s25:runlocal", "--workdir", str(workdir)]
    for item in [*SMALL, f"train.steps={steps}", *sets]:
        argv += ["--set", item]
    return argv


def run_cli(capfd, argv) -> tuple[int, str, str]:
    """`jrestore ...` in this process: (exit status, stdout, stderr)."""
    capfd.readouterr()
    rc = jrestore_main(argv)
    out, err = capfd.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    """The single non-empty stderr line (and no traceback)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def steps_on_disk(workdir) -> list[int]:
    root = Path(workdir) / "checkpoints"
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


def saved_state(workdir, step: int) -> dict:
    """Every leaf of checkpoint `step`'s state, read straight from disk: {path: array}."""
    import jax
    import orbax.checkpoint as ocp
    path = (Path(workdir) / "checkpoints" / str(step) / "state").absolute()
    with ocp.StandardCheckpointer() as ckptr:
        meta = ckptr.metadata(path).item_metadata
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), meta)
        got = ckptr.restore(path, target)
    return {_key(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(got)}


def _key(path) -> str:
    """A leaf path as 'opt_state/0/0/mu/model/0/bias', whether its nodes are dicts, lists or named tuples
    (orbax restores optax's named tuples and NNX's lists as dicts)."""
    return "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)


def trainer_state(trainer) -> dict:
    import jax
    return {_key(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(jax.device_get(trainer.state))}


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def restore_only(workdir, *extra) -> Trainer:
    """A Trainer on workdir that has done what run() does before its first step: restore."""
    trainer = Trainer(small_cfg(*extra), workdir, progress=False)
    store = trainer.checkpoints()
    try:
        trainer.restore(store, trainer._iterator())
    finally:
        store.close()
    return trainer


def metrics_steps(workdir) -> list[int]:
    return [json.loads(x)["step"] for x in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """6 steps, checkpoints every 2 with keep=1; the reference states of the two steps kept on disk."""
    workdir = tmp_path_factory.mktemp("trained")
    Trainer(small_cfg(), workdir, progress=False).run()
    return workdir, {s: saved_state(workdir, s) for s in steps_on_disk(workdir)}


@pytest.fixture
def run_copy(trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained[0], workdir)
    return workdir, trained[1]


def largest_file(step_dir: Path) -> Path:
    return max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_rotation_keeps_the_newest_verified_checkpoint(trained):
    """keep=1: when step 6 was saved, step 4 (the newest verified then) was not deleted; both verified."""
    workdir, _ = trained
    assert steps_on_disk(workdir) == [4, 6]
    assert all(integrity.verify(workdir / "checkpoints" / str(s)) is None for s in (4, 6))


def _flip_bit(path: Path, where: float):
    data = bytearray(path.read_bytes())
    data[int(where * (len(data) - 1))] ^= 0x10
    path.write_bytes(bytes(data))


def _overwrite_64(path: Path, where: float):
    data = bytearray(path.read_bytes())
    at = min(int(where * len(data)), len(data) - 64)
    data[at:at + 64] = bytes(range(64))
    path.write_bytes(bytes(data))


DAMAGE = {
    "bitflip_first_byte": lambda d: _flip_bit(largest_file(d), 0.0),
    "bitflip_middle": lambda d: _flip_bit(largest_file(d), 0.5),
    "bitflip_last_byte": lambda d: _flip_bit(largest_file(d), 1.0),
    "64_bytes_overwritten": lambda d: _overwrite_64(largest_file(d), 0.3),
    "truncated": lambda d: largest_file(d).write_bytes(largest_file(d).read_bytes()[:100]),
    "emptied": lambda d: largest_file(d).write_bytes(b""),
    "file_deleted": lambda d: largest_file(d).unlink(),
    "checksum_deleted": lambda d: (d / integrity.CHECKSUM_FILE).unlink(),
    "checksum_edited": lambda d: (d / integrity.CHECKSUM_FILE).write_text("0" * 64 + " 18\n"),
    "metadata_json_edited": lambda d: (d / "meta" / "metadata").write_text('{"step": 600, "recipe": "x"}'),
    "data_state_bitflip": lambda d: _flip_bit(d / "data" / "metadata", 0.5),
    "file_added": lambda d: (d / "state" / "extra").write_bytes(b"\0"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_newest_checkpoint_is_named_kept_aside_and_the_previous_one_restored(run_copy, damage, capfd):
    workdir, reference = run_copy
    DAMAGE[damage](workdir / "checkpoints" / "6")
    capfd.readouterr()
    trainer = restore_only(workdir)
    line = one_line(capfd.readouterr().err)
    assert line.startswith(f"checkpoint step 6 in {workdir / 'checkpoints'} failed verification (")
    assert line.endswith("; using step 4")
    assert trainer.step == 4
    assert_same(trainer_state(trainer), reference[4])
    assert steps_on_disk(workdir) == [4]
    assert (workdir / "checkpoints_rejected" / "6").is_dir()  # kept for inspection, never loaded


def test_both_checkpoints_damaged_starts_over_and_loses_nothing(run_copy, capfd):
    workdir, _ = run_copy
    for step in (4, 6):
        _flip_bit(largest_file(workdir / "checkpoints" / str(step)), 0.5)
    capfd.readouterr()
    trainer = restore_only(workdir)
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 2 and all("no verified checkpoint left, starting from step 0" in ln for ln in lines)
    assert trainer.step == 0
    assert sorted(p.name for p in (workdir / "checkpoints_rejected").iterdir()) == ["4", "6"]


def test_checkpoint_of_another_config_is_refused_in_one_line_and_kept(run_copy):
    """A verified checkpoint that does not fit the config is a user error, not damage: not moved aside. The
    shapes are compared from orbax's metadata before any array is read (a failed orbax read leaves callbacks
    behind that later raise "Event loop is closed")."""
    workdir, _ = run_copy
    with pytest.raises(ValueError, match=r"checkpoint step 6 in .* cannot be restored into this config "
                                         r"\(ValueError: the state's opt_state/0/0/mu/model/0/bias has shape \(8,\) "
                                         r"in the checkpoint and \(16,\) in this config\); "
                                         r"rerun with the config it was written with") as err:
        restore_only(workdir, "model.kwargs.nc=16")
    assert "\n" not in str(err.value)
    assert steps_on_disk(workdir) == [4, 6]


def test_checkpoints_without_any_checksum_load_with_one_warning(run_copy, capfd):
    """A workdir written before checksums: the newest step is loaded (warned once) and its checksum added."""
    workdir, reference = run_copy
    for step in (4, 6):
        (workdir / "checkpoints" / str(step) / integrity.CHECKSUM_FILE).unlink()
    capfd.readouterr()
    trainer = restore_only(workdir)
    assert "has no checksum" in one_line(capfd.readouterr().err)
    assert trainer.step == 6
    assert_same(trainer_state(trainer), reference[6])
    assert integrity.verify(workdir / "checkpoints" / "6") is None


def test_bitflip_then_jrestore_train_resumes_from_the_verified_step(run_copy, capfd):
    """End to end: exit 0, one line naming the damaged step, steps 5.. redone once in metrics.jsonl."""
    workdir, _ = run_copy
    _flip_bit(largest_file(workdir / "checkpoints" / "6"), 0.5)
    rc, out, err = run_cli(capfd, cli(workdir, steps=8))
    assert rc == 0, err
    assert "failed verification" in one_line(err) and "using step 4" in err
    assert "step=8" in out
    assert metrics_steps(workdir) == list(range(1, 9))
    assert integrity.verify(workdir / "checkpoints" / "8") is None


def test_diverging_lr_stops_naming_a_finite_checkpoint_and_a_sane_lr_trains_on(tmp_path, capfd):
    rc, _, err = run_cli(capfd, cli(tmp_path, "optim.lr=1e6", "train.ckpt_every=5", steps=20))
    assert rc == 2
    line = one_line(err)
    assert "are not finite" in line and "the update was not applied" in line, line
    named = int(line.split("Checkpoint with every value finite: ")[1].split(" (step ")[1].split(")")[0])
    assert named in steps_on_disk(tmp_path)
    assert all(np.isfinite(v).all() for v in saved_state(tmp_path, named).values())
    rc, _, err = run_cli(capfd, cli(tmp_path, "optim.lr=1e-4", "train.ckpt_every=5", steps=named + 3))
    assert rc == 2 and "optim.lr: 1000000.0 -> 0.0001" in one_line(err) and "--allow-config-change" in err
    rc, out, err = run_cli(capfd, [*cli(tmp_path, "optim.lr=1e-4", "train.ckpt_every=5", steps=named + 3),
                                   "--allow-config-change"])
    assert rc == 0, err
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, named + 4))  # rows of the diverged part were dropped
    assert all(np.isfinite(r["loss"]) and r["loss"] < 1 for r in rows[named:])
    assert all(np.isfinite(v).all() for v in saved_state(tmp_path, named + 3).values())


def test_non_finite_step_is_never_applied(tmp_path):
    """The guarded step returns the old state, bit for bit, when the batch makes the loss NaN."""
    trainer = Trainer(small_cfg(), tmp_path, progress=False)
    before = trainer_state(trainer)
    batch = {"input": np.full((16, 8, 8, 1), np.nan, np.float32), "target": np.zeros((16, 8, 8, 1), np.float32)}
    trainer.state, metrics = trainer.train_step(trainer.state, trainer.device_batch(batch))
    assert not bool(metrics["finite"])
    assert_same(trainer_state(trainer), before)


def _hold_lock(workdir) -> subprocess.Popen:
    """Another process holding the workdir's lock, as a running trainer does."""
    code = ("import sys; from train.integrity import WorkdirLock; lock = WorkdirLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(workdir)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_trainer_on_a_workdir_is_refused_naming_the_holder(run_copy, capfd):
    workdir, _ = run_copy
    holder = _hold_lock(workdir)
    try:
        before = (workdir / "metrics.jsonl").read_text()
        rc, _, err = run_cli(capfd, cli(workdir, steps=8))
        assert rc == 2
        line = one_line(err)
        assert f"is in use by another trainer (pid {holder.pid} on host {socket.gethostname()}" in line, line
        assert steps_on_disk(workdir) == [4, 6] and (workdir / "metrics.jsonl").read_text() == before
    finally:
        holder.communicate("")


def test_stale_lock_of_a_dead_trainer_is_taken_over_with_a_notice(tmp_path, capfd):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(f"{dead.pid} {socket.gethostname()}\n")
    capfd.readouterr()
    with integrity.WorkdirLock(tmp_path):
        line = one_line(capfd.readouterr().err)
        assert f"taking over the stale lock {tmp_path / '.lock'} of pid {dead.pid}" in line
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    assert (tmp_path / ".lock").read_text() == ""  # released: the next run takes it without a notice
    with integrity.WorkdirLock(tmp_path):
        assert capfd.readouterr().err == ""


def test_sigterm_on_a_checkpoint_step_exits_0_with_nothing_lost(run_copy, capfd, monkeypatch):
    """SIGTERM delivered while step 8 (a checkpoint step) is being saved: saved once, stopped, exit 0."""
    workdir, _ = run_copy
    original = Trainer.save

    def save_then_sigterm(self, store, iterator, metrics=None, wait=False):
        original(self, store, iterator, metrics, wait)
        if self.step == 8 and not wait:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Trainer, "save", save_then_sigterm)
    rc, out, err = run_cli(capfd, cli(workdir, steps=20))
    assert rc == 0 and "Traceback" not in err, err
    assert "SIGTERM: saved step 8" in out
    assert steps_on_disk(workdir) == [6, 8]
    assert integrity.verify(workdir / "checkpoints" / "8") is None
    assert metrics_steps(workdir) == list(range(1, 9))


def test_restart_after_a_kill_before_the_first_checkpoint_logs_each_step_once(tmp_path, capfd):
    """The killed run logged steps 1-3 (the last line half written) and saved nothing: the rerun drops them."""
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 0.5}) + "\n" for s in (1, 2, 3))
                                            + '{"step": 4, "lo')
    rc, _, err = run_cli(capfd, cli(tmp_path, "train.ckpt_every=3", steps=3))
    assert rc == 0, err
    assert metrics_steps(tmp_path) == [1, 2, 3]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["loss"] != 0.5


def test_second_real_trainer_is_refused_then_ctrl_c_saves_and_stops_like_sigterm(tmp_path, capfd):
    """A real `jrestore train` process: a second trainer on its workdir is refused naming its pid (and
    changes nothing); then SIGINT -> the current step saved (none of the logged steps lost), one line,
    exit 130 (the shell's status for Ctrl-C), no KeyboardInterrupt."""
    argv = cli(tmp_path, "train.ckpt_every=1000", steps=100_000)
    proc = subprocess.Popen([sys.executable, "-m", "jrestore", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 240
        while not ((tmp_path / "metrics.jsonl").is_file() and len(metrics_steps(tmp_path)) >= 3):
            assert proc.poll() is None and time.time() < end, proc.communicate()
            time.sleep(0.1)
        rc, _, err = run_cli(capfd, argv)
        assert rc == 2 and f"in use by another trainer (pid {proc.pid} on host" in one_line(err), err
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    stopped = int(out.split("SIGINT: saved step ")[1].split()[0])
    assert steps_on_disk(tmp_path) == [stopped] and stopped == max(metrics_steps(tmp_path)) >= 3
    assert integrity.verify(tmp_path / "checkpoints" / str(stopped)) is None


@pytest.mark.parametrize("sets, message", [
    (["optim.lr=nan"], "optim.lr: expected a finite number, got nan"),
    (["optim.lr=-0.1"], "optim.lr: expected a learning rate > 0, got -0.1"),
    (["train.ckpt_every=0"], "train.ckpt_every: expected an integer >= 1, got 0"),
    (["train.steps=-1"], "train.steps: expected an integer >= 1, got -1"),
    (["train.global_batch_size=0"], "train.global_batch_size: expected an integer >= 1, got 0"),
    (["train.steps=abc"], "--set train.steps: expected an integer (the default is 40), got 'abc'"),
    (["train.steps=2.5"], "--set train.steps: expected an integer (the default is 40), got '2.5'"),
    (["data.augment=yes"], "--set data.augment: expected True or False (the default is True), got 'yes'"),
    (["optim.b1=1.5"], "optim.b1: expected a number in [0, 1), got 1.5"),
    (["train.compute_dtype='float16'"], "train.compute_dtype: expected 'float32' or 'bfloat16', got 'float16'"),
])
def test_config_mistakes_are_one_line_errors(tmp_path, capfd, sets, message):
    argv = ["train", "--config", "dncnn_s25:runlocal", "--workdir", str(tmp_path / "w")]
    for item in sets:
        argv += ["--set", item]
    rc, _, err = run_cli(capfd, argv)
    assert rc == 2
    assert one_line(err) == f"jrestore train: error: {message}"
    assert not (tmp_path / "w").exists()  # refused before anything was written


def test_workdir_that_is_a_file_is_a_one_line_error(tmp_path, capfd):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    rc, _, err = run_cli(capfd, cli(path))
    assert rc == 2
    assert one_line(err) == f"jrestore train: error: --workdir: {path} is a file; expected a directory (existing " \
                            "or to be created)"
    assert path.read_text() == "mine"
