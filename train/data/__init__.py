"""Training input pipeline: random patches of clean images, degraded per task, batched and sharded by grain.

    it = make_train_iterator(data_cfg, task={"kind": "denoise", "sigma": 25}, global_batch_size=128, seed=0)
    batch = next(it)  # {"input": [B_local, h, w, C], "target": [B_local, H, W, C]} float32 NumPy
    state = it.get_state()  # JSON-serialisable dict; it.set_state(state) resumes with the same batches
    val = make_val_set({"path": "set12"}, task={"kind": "denoise", "sigma": 25})

sources.py opens the images (folder, paired folders, skimage, tfds; 8- or 16-bit through images.py), examples.py
turns one image (or a real degraded/clean pair) into one training pair
(crop, dihedral augmentation, noise / MATLAB or PIL bicubic LR / CS block), pipeline.py wires grain.
"""
from train.data.examples import TaskSpec, make_example, parse_task
from train.data.pipeline import TrainIterator, benchmark_pipeline, make_train_iterator, make_val_set, val_protocol
from train.data.sources import open_source

__all__ = ["make_train_iterator", "make_val_set", "val_protocol", "benchmark_pipeline", "TrainIterator", "TaskSpec",
           "parse_task", "make_example", "open_source"]
