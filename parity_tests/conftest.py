"""Parity tests need torch; they pin full float32 precision on both sides (docs/conventions.md §11)."""
import pytest

torch = pytest.importorskip("torch", reason="parity tests need torch (pip install -e '.[torch]')")

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
torch.set_num_threads(max(1, torch.get_num_threads()))


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.parity)
