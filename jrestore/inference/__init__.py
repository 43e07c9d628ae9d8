"""Running restoration models on images: the per-model contract (specs), Task (both frameworks), tiling."""
from jrestore.inference.specs import SPECS, ModelSpec, get_spec
from jrestore.inference.tasks import FRAMEWORKS, Task, build_task
from jrestore.inference.tiling import tiled_apply

__all__ = ["SPECS", "ModelSpec", "get_spec", "FRAMEWORKS", "Task", "build_task", "tiled_apply"]
