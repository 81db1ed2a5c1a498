"""Image loading: always RGB uint8, stored pixel grid (EXIF ignored), reduced decoding, clear errors."""

import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from fashion_seg.data.images import (
    DEFAULT_PIXEL_LIMIT,
    PIXEL_LIMIT_VARIABLE,
    check_pixels,
    image_size,
    load_image,
    pixel_limit,
)
from fashion_seg.errors import ConfigError, DataError


def gradient(height, width):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), np.full_like(x, 90)], -1).astype(np.uint8)


def test_rgb_jpeg_comes_back_rgb_not_bgr(tmp_path):
    Image.fromarray(gradient(40, 60)).save(tmp_path / "a.jpg", quality=98)
    image = load_image(tmp_path / "a.jpg")
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert abs(int(image[20, 59, 0]) - 255) < 8 and abs(int(image[20, 0, 2]) - 90) < 8


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16"])
def test_every_colour_mode_becomes_rgb_uint8(tmp_path, mode):
    rgb = gradient(30, 20)
    path = tmp_path / ("x.jpg" if mode in ("L", "CMYK") else "x.png")
    if mode == "I;16":
        Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(path)
    else:
        Image.fromarray(rgb).convert(mode).save(path)
    image = load_image(path)
    assert image.shape == (30, 20, 3) and image.dtype == np.uint8
    if mode == "I;16":  # 16-bit gray: scaled to 8 bits, three equal channels
        expected = np.repeat(rgb[..., :1], 3, axis=-1).astype(int)
    else:
        expected = np.asarray(Image.fromarray(rgb).convert(mode).convert("RGB"), int)
    assert np.abs(image.astype(int) - expected).mean() < 4


def test_exif_orientation_is_ignored_so_masks_stay_aligned(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(gradient(40, 70)).save(tmp_path / "exif.jpg", exif=exif)
    assert image_size(tmp_path / "exif.jpg") == (40, 70)
    assert load_image(tmp_path / "exif.jpg").shape == (40, 70, 3)
    assert load_image(tmp_path / "exif.jpg", max_side=35).shape == (20, 35, 3)


def test_reduced_decoding_gives_the_requested_size_and_the_same_picture(tmp_path):
    Image.fromarray(gradient(1600, 1000)).save(tmp_path / "big.jpg", quality=95)
    full = load_image(tmp_path / "big.jpg")
    small = load_image(tmp_path / "big.jpg", max_side=200)  # 1/8 decode path
    assert small.shape == (200, 125, 3)
    reference = cv2.resize(full, (125, 200), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - reference).mean() < 3
    assert load_image(tmp_path / "big.jpg", size=(50, 60)).shape == (50, 60, 3)
    assert load_image(tmp_path / "big.jpg", max_side=5000).shape == (1600, 1000, 3)  # never enlarged by max_side


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(DataError, match="image not found: .*nope.jpg"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match="unreadable image .*bad.jpg"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(DataError, match="unreadable image"):
        image_size(tmp_path / "bad.jpg")
    Image.fromarray(gradient(300, 300)).save(tmp_path / "cut.jpg")
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert image_size(tmp_path / "cut.jpg") == (300, 300)  # the header is intact
    with pytest.raises(DataError, match="unreadable image .*cut.jpg"):
        check_pixels(tmp_path / "cut.jpg")


def jpeg_claiming(path, height, width):
    """A small JPEG whose header claims ``height`` x ``width`` pixels (a decompression bomb's header)."""
    Image.fromarray(gradient(16, 16)).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"\xff\xc0")
    data[start + 5:start + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("read", [image_size, load_image, check_pixels, lambda p: load_image(p, max_side=64)],
                         ids=["image_size", "load_image", "check_pixels", "load_image-reduced"])
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, read):
    path = tmp_path / "bomb.jpg"
    jpeg_claiming(path, 20000, 20000)
    with pytest.raises(DataError, match=rf"image {path} claims 20000x20000 = 400,000,000 pixels, more than the limit "
                                        r"of 178,956,970: .* raise FASHION_SEG_MAX_IMAGE_PIXELS"):
        read(path)


def test_the_pixel_limit_is_set_by_the_environment(tmp_path, monkeypatch):
    Image.fromarray(gradient(40, 60)).save(tmp_path / "a.jpg")
    monkeypatch.setenv(PIXEL_LIMIT_VARIABLE, "2_399")
    assert pixel_limit() == 2399
    with pytest.raises(DataError, match="claims 60x40 = 2,400 pixels, more than the limit of 2,399"):
        load_image(tmp_path / "a.jpg")
    monkeypatch.setenv(PIXEL_LIMIT_VARIABLE, "2400")
    assert load_image(tmp_path / "a.jpg").shape == (40, 60, 3)
    jpeg_claiming(tmp_path / "bomb.jpg", 20000, 20000)
    monkeypatch.setenv(PIXEL_LIMIT_VARIABLE, "0")  # no limit: the header is believed
    assert pixel_limit() is None and image_size(tmp_path / "bomb.jpg") == (20000, 20000)
    monkeypatch.delenv(PIXEL_LIMIT_VARIABLE)
    assert pixel_limit() == DEFAULT_PIXEL_LIMIT


@pytest.mark.parametrize("text", ["lots", "-1", "1e9"])
def test_a_pixel_limit_that_is_not_a_count_is_a_config_error(monkeypatch, text):
    monkeypatch.setenv(PIXEL_LIMIT_VARIABLE, text)
    with pytest.raises(ConfigError, match=f"{PIXEL_LIMIT_VARIABLE}='{text}': give a number of pixels, or 0"):
        pixel_limit()
