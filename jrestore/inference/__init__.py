"""Running restoration models on images: the per-model contract (specs), Task (both frameworks), tiling."""
from jrestore.inference.specs import ModelSpec, get_spec, restorer_names
from jrestore.inference.tasks import FRAMEWORKS, Task, build_task
from jrestore.inference.tiling import tiled_apply

__all__ = ["ModelSpec", "get_spec", "restorer_names", "FRAMEWORKS", "Task", "build_task", "tiled_apply"]
