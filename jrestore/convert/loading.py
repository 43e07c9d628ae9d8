"""`jrestore.load(path)`: a ready jrestore model (NNX, eval mode) from any supported weights file or workdir.

    model = jrestore.load("runs/dncnn")                      # WORKDIR/model.safetensors, model named by it
    model = jrestore.load("runs/dncnn:best")                 # WORKDIR/best.safetensors
    model = jrestore.load("dncnn_25.pth", model="dncnn")     # a file that does not record its model
    model = jrestore.load("fsrcnn.safetensors", scale_factor=3)   # constructor overrides

The constructor arguments are, in increasing priority: what the file records (model files written by
`jrestore convert` or the trainer), what the tensors determine (`jrestore.core.spec.ModelSpec.infer_kwargs`),
then `overrides`. The torch_ref twin: `torch_ref.load`.
"""
from __future__ import annotations

__all__ = ["load_model"]


def load_model(path, model: str | None = None, *, param_key: str | None = None, **overrides):
    """The jrestore model stored at `path`, weights loaded, in eval mode.

    Args:
      path: a weights file (.safetensors, .pth/.pt/.pkl read with weights_only=True, DnCNN MatConvNet .mat),
        or a training workdir (WORKDIR -> WORKDIR/model.safetensors, WORKDIR:best -> best.safetensors).
      model: the registry name; needed only when the file does not record it (must match when it does).
      param_key: the checkpoint entry holding the weights (BasicSR 'params' / 'params_ema'; default: the first
        present of params_ema, params, state_dict).
      **overrides: constructor arguments that win over the recorded and inferred ones.
    Errors: one ValueError (or FileNotFoundError) naming the argument: no model name, two different ones,
    a missing or unreadable file, weights that do not fit the model (first key and both shapes).
    """
    import jrestore.models
    from jrestore.convert.checkpoints import load_state_dict_file
    from jrestore.convert.torch_state import load_torch_state_dict
    from jrestore.core.model_file import recorded_kwargs, resolve_model
    from jrestore.core.spec import get_spec

    name, file, meta = resolve_model(model, path, model_flag="model", weights_flag="path")
    spec = get_spec(name)
    state = spec.rename_keys(load_state_dict_file(file, what="path", param_key=param_key))
    kwargs = {**recorded_kwargs(meta), **spec.infer_kwargs(state), **overrides}
    net = jrestore.models.get(name, **kwargs)
    load_torch_state_dict(net, spec.adapt_state(state, kwargs), source=str(file))
    net.eval()
    return net
