"""Scaled sizes and the nearest-neighbour sampling rule shared by images, masks and RLE."""

import numpy as np
import pytest

from fashion_seg.data.mask_geometry import nearest_indices, resize_masks, scaled_size
from fashion_seg.errors import DataError


def test_scaled_size_keeps_the_aspect_ratio_and_never_enlarges():
    assert scaled_size(5214, 3676, 1024) == (1024, 722)
    assert scaled_size(300, 400, 1024) == (300, 400)
    assert scaled_size(300, 400, None) == (300, 400)
    assert scaled_size(10000, 1, 100) == (100, 1)
    with pytest.raises(DataError, match="at least 1"):
        scaled_size(10, 10, 0)


def test_nearest_indices_sample_pixel_centres():
    assert nearest_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert nearest_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert nearest_indices(7, 7).tolist() == list(range(7))
    with pytest.raises(DataError, match="cannot resize an axis of length 0"):
        nearest_indices(0, 5)


def test_resize_masks_works_on_stacks():
    masks = np.zeros((4, 6, 2), bool)
    masks[:2, :, 0] = True
    out = resize_masks(masks, 2, 3)
    assert out.shape == (2, 3, 2) and out[0, :, 0].all() and not out[1, :, 0].any() and not out[..., 1].any()
