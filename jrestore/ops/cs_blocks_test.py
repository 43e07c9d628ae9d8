"""ISTA-Net block CS: always-pad rule, raster block order against a NumPy loop, round trip, matmuls."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.ops.cs_blocks import (block_meta, blocks_to_image, image_to_blocks, initial_estimate, measure,
                                    pad_to_blocks)

from jrestore.parity.tolerances import MATMUL_REL


def _np_blocks(img, block):
    """The official test script's order: pad by block - n % block, then loop block rows, block columns."""
    h, w = img.shape
    padded = np.zeros((h + block - h % block, w + block - w % block), img.dtype)
    padded[:h, :w] = img
    rows = []
    for i in range(0, padded.shape[0], block):
        for j in range(0, padded.shape[1], block):
            rows.append(padded[i:i + block, j:j + block].reshape(-1))
    return np.stack(rows), padded


def test_single_image_matches_numpy_loop():
    img = np.random.default_rng(0).uniform(size=(17, 15)).astype(np.float32)
    rows, meta = image_to_blocks(jnp.asarray(img), block=5)
    ref, padded = _np_blocks(img, 5)
    assert (meta.padded_height, meta.padded_width, meta.batch) == (20, 20, None)  # 15 -> 20: always pads
    np.testing.assert_array_equal(np.asarray(rows), ref)
    np.testing.assert_array_equal(np.asarray(pad_to_blocks(jnp.asarray(img), 5)), padded)
    np.testing.assert_array_equal(np.asarray(blocks_to_image(rows, meta)), img)


def test_batch_matches_numpy_loop_image_by_image():
    imgs = np.random.default_rng(1).integers(0, 256, (2, 40, 37, 1)).astype(np.uint8)  # any dtype
    rows, meta = image_to_blocks(jnp.asarray(imgs))
    assert rows.shape == (2 * 4, 1089) and rows.dtype == jnp.uint8 and meta.num_blocks == 4
    ref = np.concatenate([_np_blocks(im[..., 0], 33)[0] for im in imgs])
    np.testing.assert_array_equal(np.asarray(rows), ref)
    np.testing.assert_array_equal(np.asarray(pad_to_blocks(jnp.asarray(imgs))[..., 0]),
                                  np.stack([_np_blocks(im[..., 0], 33)[1] for im in imgs]))
    back = jax.jit(blocks_to_image, static_argnums=1)(rows, meta)
    np.testing.assert_array_equal(np.asarray(back), imgs)


def test_under_jit_with_static_meta():
    img = np.random.default_rng(3).uniform(size=(2, 17, 15, 1)).astype(np.float32)
    meta = block_meta(17, 15, 5, batch=2)
    rows = jax.jit(lambda im: image_to_blocks(im, 5)[0])(img)
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(image_to_blocks(jnp.asarray(img), 5)[0]))
    assert image_to_blocks(jnp.asarray(img), 5)[1] == meta
    np.testing.assert_array_equal(np.asarray(jax.jit(blocks_to_image, static_argnums=1)(rows, meta)), img)


def test_always_pads_a_multiple_of_the_block():
    img = jnp.ones((33, 33))
    padded = np.asarray(pad_to_blocks(img))
    assert padded.shape == (66, 66)
    assert padded[:33, :33].min() == 1 and padded[33:].max() == 0 and padded[:, 33:].max() == 0
    rows, meta = image_to_blocks(img)
    assert rows.shape == (4, 1089) and meta.padded_height == 66
    np.testing.assert_array_equal(np.asarray(rows.sum(axis=1)), [1089, 0, 0, 0])


def test_measure_and_initial_estimate_match_float64():
    rng = np.random.default_rng(2)
    blocks = rng.uniform(size=(6, 1089)).astype(np.float32)
    phi = (rng.normal(size=(272, 1089)) / np.sqrt(1089)).astype(np.float32)
    qinit = (rng.normal(size=(1089, 272)) / np.sqrt(272)).astype(np.float32)
    y = np.asarray(jax.jit(measure)(blocks, phi))
    y_ref = blocks.astype(np.float64) @ phi.astype(np.float64).T
    assert np.abs(y - y_ref).max() <= MATMUL_REL * np.abs(y_ref).max()
    x0 = np.asarray(jax.jit(initial_estimate)(y, qinit))
    x0_ref = y.astype(np.float64) @ qinit.astype(np.float64).T
    assert x0.shape == (6, 1089)
    assert np.abs(x0 - x0_ref).max() <= MATMUL_REL * np.abs(x0_ref).max()


def test_errors():
    with pytest.raises(ValueError, match=r"img: expected a grey image \[H, W\] or a batch \[B, H, W, 1\]"):
        image_to_blocks(jnp.zeros((17, 15, 1)))
    with pytest.raises(ValueError, match="img: expected 1 channels"):
        pad_to_blocks(jnp.zeros((2, 17, 15, 3)))
    with pytest.raises(ValueError, match="block: expected a positive"):
        image_to_blocks(jnp.zeros((17, 15)), block=0)
    rows, meta = image_to_blocks(jnp.zeros((17, 15)), block=5)
    with pytest.raises(ValueError, match=r"rows: expected shape \(16, 25\)"):
        blocks_to_image(rows[:-1], meta)
    with pytest.raises(ValueError, match="phi: expected a matrix with 1089 columns"):
        measure(jnp.zeros((3, 1089)), jnp.zeros((272, 1088)))
    with pytest.raises(ValueError, match="qinit: expected a matrix with 272 columns"):
        initial_estimate(jnp.zeros((3, 272)), jnp.zeros((272, 1089)))
    with pytest.raises(ValueError, match="blocks: expected a floating-point array"):
        measure(jnp.zeros((3, 1089), jnp.int32), jnp.zeros((272, 1089)))
