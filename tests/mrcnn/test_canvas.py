import numpy as np
import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.canvas import MultiScale, plan_placement
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.resize import resize_image


class CanvasConfig(Config):
    NAME = "canvas"
    NUM_CLASSES = 2
    IMAGE_MIN_DIM = 256
    IMAGE_MAX_DIM = 512


@pytest.mark.parametrize("size", [(300, 500), (1000, 400), (100, 120), (512, 512), (777, 555)])
def test_square_placement_is_matterports_resize(size):
    placement = plan_placement(size, CanvasConfig(), np.random.default_rng(0))
    _, window, scale, _, _ = resize_image(np.zeros(size + (1,), np.uint8), min_dim=256, max_dim=512, mode="square")
    assert placement.window == tuple(window)
    assert placement.scale == pytest.approx(scale)
    assert placement.scaled_shape == (window[2] - window[0], window[3] - window[1])
    assert placement.crop == (0, 0) + placement.scaled_shape  # square never crops


def test_a_huge_competition_image_by_hand():
    placement = plan_placement((5792, 8688), CanvasConfig(), np.random.default_rng(0))
    assert placement.scale == pytest.approx(512 / 8688)
    assert placement.scaled_shape == (341, 512)  # round(5792 * 512 / 8688) = round(341.33)
    assert placement.window == (85, 0, 426, 512)


def test_larger_sides_are_cropped_at_random_smaller_ones_centred():
    config = CanvasConfig(IMAGE_RESIZE_MODE="none")
    crops = set()
    for seed in range(10):
        placement = plan_placement((700, 300), config, np.random.default_rng(seed))
        y, x, h, w = placement.crop
        assert (h, w) == (512, 300) and 0 <= y <= 700 - 512 and x == 0
        assert placement.window == (0, 106, 512, 406)
        crops.add(y)
    assert len(crops) > 1


def test_crop_mode_crops_min_dim_squares():
    config = CanvasConfig(IMAGE_RESIZE_MODE="crop")
    placement = plan_placement((200, 300), config, np.random.default_rng(1))
    assert placement.scale == pytest.approx(256 / 200)
    assert placement.scaled_shape == (256, 384)
    assert placement.crop[2:] == (256, 256) and placement.window == (0, 0, 256, 256)


def test_multiscale_short_side_range_and_long_side_cap():
    config = CanvasConfig()
    scales = [plan_placement((1000, 2000), config, np.random.default_rng(seed), MultiScale(400, 800, 1200)).scale
              for seed in range(20)]
    assert min(scales) >= 0.4 and max(scales) <= 0.6  # short side >= 400; long side capped at 1200
    assert len(set(scales)) > 5
    with pytest.raises(ConfigError):
        MultiScale(800, 400)


def test_pad64_keeps_the_image_scale_and_crops_what_does_not_fit():
    config = CanvasConfig(IMAGE_RESIZE_MODE="pad64")  # canvas 512x512; min_dim 256 enlarges small images only
    large = plan_placement((900, 300), config, np.random.default_rng(0))
    assert large.scale == 1 and large.crop[2:] == (512, 300) and large.window == (0, 106, 512, 406)
    small = plan_placement((128, 200), config, np.random.default_rng(0))
    assert small.scale == 2 and small.scaled_shape == (256, 400) and small.window == (128, 56, 384, 456)


def test_shrinking_rounds_like_the_reduced_loaders():
    from fashion_seg.data.mask_geometry import scaled_size

    for seed in range(30):
        rng = np.random.default_rng(seed)
        size = tuple(int(v) for v in rng.integers(300, 6000, size=2))
        placement = plan_placement(size, CanvasConfig(), rng, MultiScale(200, 700, 900))
        if placement.scale < 1:
            assert placement.scaled_shape == scaled_size(*size, max(placement.scaled_shape))
