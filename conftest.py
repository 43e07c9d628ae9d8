"""Project-wide pytest setup: full float32 precision and the shared-data fixture."""
import os

os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")  # before jax is imported

import jax
import pytest

jax.config.update("jax_default_matmul_precision", "highest")

from jrestore.data.paths import DATA_ENV, data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (or $JRESTORE_DATA); skips the test with the reason when it is absent."""
    path = data_dir()
    if path is None:
        pytest.skip(f"reference data absent: set {DATA_ENV} or place it at ../shared/data")
    return path
