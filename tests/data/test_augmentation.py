import pickle
from concurrent.futures import ThreadPoolExecutor

import albumentations as A
import numpy as np
import pytest

from fashion_seg.data.augmentation import Augmentation, make_augmentation, pack_masks, unpack_masks
from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.boxes import extract_bboxes

HEIGHT, WIDTH = 60, 80
COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


def flip_only():
    return [A.HorizontalFlip(p=1.0)]


def shift_right_by_30():
    return [A.Affine(translate_px={"x": 30, "y": 0}, p=1.0)]


def flip_and_brightness():
    return [A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(0.3, 0.3, p=0.5)]


def scene():
    """Grey image with three solid-coloured rectangles and their masks; the third touches the right border."""
    image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    masks = np.zeros((3, HEIGHT, WIDTH), bool)
    for i, (y1, x1, y2, x2) in enumerate([(5, 5, 30, 25), (20, 30, 55, 50), (10, 70, 40, 80)]):
        image[y1:y2, x1:x2] = COLOURS[i]
        masks[i, y1:y2, x1:x2] = True
    return image, masks, np.array([1, 2, 3], np.int32)


def test_packing_keeps_every_mask_bit_whatever_the_layout():
    rng = np.random.default_rng(0)
    for count in (1, 7, 8, 9, 20):
        masks = rng.random((count, 13, 17)) > 0.5
        packed = pack_masks(masks)
        assert packed.dtype == np.uint8 and packed.shape == ((13, 17) if count <= 8 else (13, 17, (count + 7) // 8))
        np.testing.assert_array_equal(unpack_masks(packed, count), masks)
        column_major = np.asfortranarray(masks.transpose(1, 2, 0)).transpose(2, 0, 1)  # as RLE decoding lays them
        assert column_major[0].flags.f_contiguous
        np.testing.assert_array_equal(pack_masks(column_major), packed)


def test_presets_and_their_errors():
    assert make_augmentation("none") is None
    assert make_augmentation("seed").name == "seed"
    assert make_augmentation("first_place", cutout=True).name == "first_place+cutout"
    with pytest.raises(ConfigError, match="unknown augmentation preset"):
        make_augmentation("heavy")
    with pytest.raises(ConfigError, match="first_place"):
        make_augmentation("seed", cutout=True)


@pytest.mark.parametrize("preset", ["seed", "first_place"])
def test_the_same_seed_gives_the_same_result(preset):
    image, masks, _ = scene()
    augmentation = make_augmentation(preset, cutout=preset == "first_place")
    results = [augmentation(image, masks, seed) for seed in (7, 7, 8, 9, 10)]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert any(not np.array_equal(results[0][0], other[0]) for other in results[2:])


def test_a_flipped_image_has_mirrored_boxes_and_masks_on_the_same_pixels():
    image, masks, class_ids = scene()
    flipped, new_masks, new_ids, boxes = Augmentation(flip_only).apply(image, masks, class_ids, seed=0)
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_array_equal(new_ids, class_ids)
    original = extract_bboxes(np.moveaxis(masks, 0, -1))
    mirrored = np.stack([original[:, 0], WIDTH - original[:, 3], original[:, 2], WIDTH - original[:, 1]], axis=1)
    np.testing.assert_array_equal(boxes, mirrored)
    for i, colour in enumerate(COLOURS):
        assert (flipped[new_masks[i]] == colour).all()


@pytest.mark.parametrize("seed", range(5))
def test_shift_and_scale_move_masks_with_the_pixels(seed):
    image, masks, class_ids = scene()
    out, new_masks, new_ids, boxes = make_augmentation("seed").apply(image, masks, class_ids, seed=seed)
    for mask, class_id, box in zip(new_masks, new_ids, boxes):
        np.testing.assert_array_equal(box, extract_bboxes(mask[:, :, None])[0])  # tight box of the new mask
        if mask.sum() < 100:
            continue  # a sliver cut by the border is mostly rim
        colour = np.array(COLOURS[class_id - 1])
        # bilinear image vs nearest-neighbour masks: only the rim may blend with the background
        close = np.abs(out[mask].astype(int) - colour).max(axis=1) < 40
        assert close.mean() > 0.8


def test_instances_pushed_out_are_dropped_and_slivers_below_min_area_too():
    image, masks, class_ids = scene()
    shifted, new_masks, new_ids, boxes = Augmentation(shift_right_by_30).apply(image, masks, class_ids, seed=0)
    assert new_ids.tolist() == [1, 2]  # the rectangle at the right border left the image
    np.testing.assert_array_equal(boxes, [[5, 35, 30, 55], [20, 60, 55, 80]])
    assert new_masks.shape == (2, HEIGHT, WIDTH)
    # the first rectangle keeps its 25 x 20 = 500 pixels, the second its 35 x 20 = 700
    assert Augmentation(shift_right_by_30).apply(image, masks, class_ids, 0, min_area=501)[2].tolist() == [2]


def test_many_instances_travel_in_several_packed_channels():
    rng = np.random.default_rng(1)
    masks = rng.random((20, HEIGHT, WIDTH)) > 0.7
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    _, flipped = Augmentation(flip_only)(image, masks, 0)
    np.testing.assert_array_equal(flipped, masks[:, :, ::-1])


def test_each_transform_draws_its_own_randomness():
    # albumentations' Compose.set_random_seed seeds every transform alike: flip and brightness would always coincide
    image = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
    image[:, :10] = 30
    augmentation = Augmentation(flip_and_brightness)
    outcomes = set()
    for seed in range(30):
        out, _ = augmentation(image, np.zeros((0, HEIGHT, WIDTH), bool), seed)
        flipped = out[0, -1, 0] < out[0, 0, 0]
        brightened = not (np.array_equal(out, image) or np.array_equal(out, image[:, ::-1]))
        outcomes.add((bool(flipped), brightened))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}


def test_threads_and_pickled_copies_give_the_same_results_as_one_thread():
    image, masks, _ = scene()
    augmentation = make_augmentation("first_place", cutout=True)
    expected = [augmentation(image, masks, seed) for seed in range(12)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda seed: augmentation(image, masks, seed), range(12)))
    copy = pickle.loads(pickle.dumps(augmentation))
    for seed, (want, got) in enumerate(zip(expected, threaded)):
        np.testing.assert_array_equal(want[0], got[0])
        np.testing.assert_array_equal(want[1], got[1])
        np.testing.assert_array_equal(want[0], copy(image, masks, seed)[0])
