"""read_image_cv2_grayscale against what cv2.imread(path, cv2.IMREAD_GRAYSCALE) returned (opencv-python 4.14).

The expected values were printed by OpenCV for the 8x8 colour image below, saved by PIL as here; they are
literals, so the test needs no OpenCV. PNG goes through libpng (truncating weights; gamma-aware with a gAMA or
sRGB chunk), BMP through OpenCV's own 14-bit conversion.
"""
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from jrestore.data.image_io import read_image_cv2_grayscale

CV2_GREY = {
    "plain.png": [1, 39, 76, 114, 152, 39, 77, 115, 27, 64, 102, 140, 177, 65, 73, 111, 60, 98, 136, 144, 182, 69,
                  107, 145, 73, 111, 148, 186, 74, 111, 149, 187, 123, 161, 199, 86, 124, 132, 170, 208, 182, 219, 78,
                  115, 153, 191, 228, 39, 219, 107, 144, 182, 143, 31, 68, 106, 67, 105, 143, 180, 68, 76, 114, 152],
    "gama045.png": [0, 43, 87, 129, 173, 66, 89, 123, 43, 70, 109, 149, 190, 105, 78, 114, 84, 111, 145, 156, 198, 84,
                    110, 145, 80, 114, 152, 192, 103, 124, 153, 188, 125, 161, 201, 127, 145, 146, 179, 215, 182, 220,
                    120, 138, 164, 196, 232, 64, 229, 141, 161, 190, 172, 72, 93, 125, 84, 123, 165, 207, 102, 82, 123,
                    165],
    "gama22.png": [0, 35, 70, 105, 138, 28, 74, 113, 20, 63, 99, 135, 170, 48, 71, 110, 52, 94, 133, 135, 173, 64, 106,
                   145, 71, 110, 148, 184, 57, 107, 148, 188, 123, 161, 197, 61, 114, 121, 163, 203, 182, 219, 57, 106,
                   148, 188, 227, 30, 211, 91, 138, 179, 116, 17, 61, 99, 52, 89, 124, 159, 59, 75, 110, 145],
    "bmp.bmp": [1, 39, 77, 115, 152, 40, 77, 115, 27, 65, 102, 140, 178, 65, 74, 112, 61, 99, 136, 145, 182, 70, 108,
                145, 74, 111, 149, 187, 74, 112, 150, 187, 124, 161, 199, 87, 124, 133, 171, 208, 182, 220, 78, 116,
                154, 191, 229, 40, 220, 107, 145, 183, 144, 31, 69, 107, 68, 105, 143, 181, 68, 77, 114, 152],
}
CV2_GREY["srgb.png"] = CV2_GREY["gama045.png"]  # libpng: an sRGB chunk means gamma 0.45455
CHUNKS = {"gama045.png": (b"gAMA", struct.pack(">I", 45455)), "gama22.png": (b"gAMA", struct.pack(">I", 220000)),
          "srgb.png": (b"sRGB", b"\x00")}


def _colour_8x8():
    i, j = np.mgrid[0:8, 0:8]
    return np.stack([(37 * i + 11 * j) % 256, (53 * j + 7 * i * i) % 256, (91 * i + 29 * j + 13) % 256],
                    -1).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(CV2_GREY))
def test_matches_opencv_imread_grayscale(tmp_path, name):
    info = PngImagePlugin.PngInfo()
    if name in CHUNKS:
        info.add(*CHUNKS[name])
    path = tmp_path / name
    Image.fromarray(_colour_8x8()).save(path, **({"pnginfo": info} if name.endswith(".png") else {}))
    got = read_image_cv2_grayscale(path)
    assert got.shape == (8, 8, 1) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0].ravel(), CV2_GREY[name])
    if name == "plain.png":  # why not PIL: its convert('L') rounds where libpng truncates
        assert (np.asarray(Image.open(path).convert("L")).ravel() != CV2_GREY[name]).sum() > 10


def test_grey_and_equal_channel_files_keep_their_values(tmp_path):
    grey = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.repeat(grey[..., None], 3, -1)).save(tmp_path / "equal.png")
    for name in ("grey.png", "equal.png"):
        np.testing.assert_array_equal(read_image_cv2_grayscale(tmp_path / name)[..., 0], grey)


# ---- 16-bit ----

@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_write_and_read_keep_every_bit(tmp_path, channels, suffix):
    from jrestore.data.image_io import read_image, write_image

    a = np.random.default_rng(channels).integers(0, 65536, (13, 17, channels)).astype(np.uint16)
    path = tmp_path / f"a{suffix}"
    write_image(a, path)
    np.testing.assert_array_equal(read_image(path, keep_16bit=True), a)
    with pytest.raises(ValueError, match="16-bit"):  # the protocols' reader still refuses it
        read_image(path)
    # other readers agree: Pillow keeps 16-bit grey; for 48-bit RGB it keeps the high bytes; tifffile all
    with Image.open(path) as im:
        if channels == 1:
            np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), a[..., 0])
        else:
            np.testing.assert_array_equal(np.asarray(im), (a >> 8).astype(np.uint8))
    if suffix == ".tif":
        tifffile = pytest.importorskip("tifffile")
        np.testing.assert_array_equal(tifffile.imread(path).reshape(a.shape), a)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_16bit_rgb_tiff_from_tifffile_reads_exactly(tmp_path, compression):
    """Pillow decodes these through its raw and libtiff decoders: both give every bit."""
    tifffile = pytest.importorskip("tifffile")
    from jrestore.data.image_io import read_image

    a = np.random.default_rng(7).integers(0, 65536, (11, 9, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb", compression=compression)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif", keep_16bit=True), a)


def test_8bit_files_read_the_same_with_keep_16bit(tmp_path):
    from jrestore.data.image_io import read_image

    Image.fromarray(_colour_8x8()).save(tmp_path / "c.png")
    got = read_image(tmp_path / "c.png", keep_16bit=True)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, read_image(tmp_path / "c.png"))
