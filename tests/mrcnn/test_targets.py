import numpy as np
import pytest

from fashion_seg.errors import DataError
from fashion_seg.mrcnn.anchors import get_pixel_anchors
from fashion_seg.mrcnn.boxes import compute_overlaps
from fashion_seg.mrcnn.canvas import MultiScale
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.ground_truth import keep_visible_instances, load_ground_truth, load_image_gt
from fashion_seg.mrcnn.masks import expand_mask
from fashion_seg.mrcnn.molding import parse_image_meta
from fashion_seg.mrcnn.rpn_targets import AnchorGrid, build_rpn_targets
from rectangles import rectangle_masks
from tiny_network import SmallImageConfig


class TinyConfig(SmallImageConfig):
    NAME = "tiny"
    MAX_GT_INSTANCES = 10


class SquareAnchorConfig(TinyConfig):
    """One ratio, so the anchors of a 64x64 image can be checked by hand: P2 is a 16x16 grid of 8x8 squares
    centred at multiples of 4, P3 8x8 of 16x16 at multiples of 8, ..."""

    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_RATIOS = [1]
    RPN_TRAIN_ANCHORS_PER_IMAGE = 1024  # more than the 341 anchors: nothing is sub-sampled


# ------------------------------------------------------------------------------------- a plain reference, per anchor


def _iou_one(a, g):
    """IoU of two float32 boxes with numpy float32 scalars (the same arithmetic as the vectorised code)."""
    inter = max(min(a[2], g[2]) - max(a[0], g[0]), np.float32(0)) * max(min(a[3], g[3]) - max(a[1], g[1]),
                                                                        np.float32(0))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
    return inter / union if union > 0 else np.float32(0)


def reference_rpn_targets(anchors, class_ids, boxes, config, rng):
    """matterport's build_rpn_targets written as a loop over anchors (no windows, no vectorisation)."""
    anchors = anchors.astype(np.float32)
    boxes = boxes.astype(np.float32)
    crowds, gts = boxes[class_ids < 0], boxes[class_ids > 0]
    match = np.zeros(len(anchors), np.int32)
    best_of_gt = [np.float32(0)] * len(gts)
    best_anchors_of_gt = [[] for _ in gts]
    best_of_anchor = np.zeros(len(anchors), np.float32)
    for a, anchor in enumerate(anchors):
        near_crowd = any(_iou_one(anchor, crowd) >= 0.001 for crowd in crowds)
        for g, gt in enumerate(gts):
            iou = _iou_one(anchor, gt)
            best_of_anchor[a] = max(best_of_anchor[a], iou)
            if iou > best_of_gt[g]:
                best_of_gt[g], best_anchors_of_gt[g] = iou, [a]
            elif iou == best_of_gt[g] and iou > 0:
                best_anchors_of_gt[g].append(a)
        if best_of_anchor[a] < 0.3 and not near_crowd:
            match[a] = -1
    for chosen in best_anchors_of_gt:
        match[chosen] = 1
    match[best_of_anchor >= 0.7] = 1

    positives = np.flatnonzero(match == 1)
    half = config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    if len(positives) > half:
        kept = positives[np.sort(rng.choice(len(positives), half, replace=False))]
        match[positives] = 0
        match[kept] = 1
        positives = kept
    negatives = np.flatnonzero(match == -1)
    wanted = config.RPN_TRAIN_ANCHORS_PER_IMAGE - len(positives)
    if len(negatives) > wanted:
        kept = negatives[np.sort(rng.choice(len(negatives), wanted, replace=False))]
        match[negatives] = 0
        match[kept] = -1

    bbox = np.zeros((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), np.float32)
    for row, a in enumerate(positives):
        anchor = anchors[a]
        gt = gts[int(np.argmax([_iou_one(anchor, g) for g in gts]))].astype(np.float64)
        h, w = anchor[2] - anchor[0], anchor[3] - anchor[1]
        gh, gw = gt[2] - gt[0], gt[3] - gt[1]
        bbox[row] = np.array([
            (gt[0] + 0.5 * gh - anchor[0] - 0.5 * h) / h, (gt[1] + 0.5 * gw - anchor[1] - 0.5 * w) / w,
            np.log(gh / h), np.log(gw / w),
        ]) / config.RPN_BBOX_STD_DEV
    return match, bbox


def random_boxes(rng, count, image_side):
    """Boxes of every shape inside the image: tiny, thin, huge (log-uniform sides, whole pixels)."""
    heights = np.exp(rng.uniform(np.log(2), np.log(image_side), count)).round()
    widths = np.exp(rng.uniform(np.log(2), np.log(image_side), count)).round()
    y1 = (rng.uniform(0, 1, count) * (image_side - heights)).round()
    x1 = (rng.uniform(0, 1, count) * (image_side - widths)).round()
    return np.stack([y1, x1, y1 + heights, x1 + widths], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------------- RPN targets


def test_anchor_grid_holds_exactly_the_pixel_anchors():
    for config, shape in [(TinyConfig(), (128, 128)), (TinyConfig(RPN_ANCHOR_STRIDE=2), (128, 128)),
                          (TinyConfig(), (64, 192))]:
        grid = AnchorGrid.for_image(config, shape)
        np.testing.assert_array_equal(grid.boxes, get_pixel_anchors(config, shape).astype(np.float32))


def test_a_gt_equal_to_an_anchor_by_hand():
    config = SquareAnchorConfig()
    grid = AnchorGrid.for_image(config, (64, 64))
    assert len(grid) == 16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1
    match, bbox = build_rpn_targets(grid, np.array([1]), np.array([[12, 12, 20, 20]]), config,
                                    np.random.default_rng(0))
    exact = 4 * 16 + 4  # P2 anchor centred at (16, 16): (12, 12, 20, 20)
    assert np.flatnonzero(match == 1).tolist() == [exact]
    np.testing.assert_array_equal(bbox, 0)  # the anchor is the box: no correction
    # The four P2 anchors one step away overlap 8x4 pixels: IoU 32 / (64 + 64 - 32) = 1/3, neither
    # negative (< 0.3) nor positive (>= 0.7). Diagonal ones: 16 / 112 < 0.3, negative; P3's (8, 8, 24, 24): 0.25.
    assert sorted(np.flatnonzero(match == 0).tolist()) == [3 * 16 + 4, 4 * 16 + 3, 4 * 16 + 5, 5 * 16 + 4]
    assert match[3 * 16 + 3] == -1 and match[256 + 2 * 8 + 2] == -1
    assert (match == -1).sum() == len(grid) - 5


def test_every_best_anchor_of_a_gt_is_positive_ties_included():
    config = SquareAnchorConfig()
    grid = AnchorGrid.for_image(config, (64, 64))
    # x from 14 to 22 overlaps the anchors centred at x=16 and x=20 by 6 columns each: both IoU 48 / 80 = 0.6,
    # below 0.7 but the best this GT has.
    match, bbox = build_rpn_targets(grid, np.array([2]), np.array([[12, 14, 20, 22]]), config,
                                    np.random.default_rng(0))
    assert np.flatnonzero(match == 1).tolist() == [4 * 16 + 4, 4 * 16 + 5]
    np.testing.assert_allclose(bbox[:2, 1], [2 / 8 / 0.1, -2 / 8 / 0.1], rtol=1e-6)  # centre 18 vs 16 and 20
    np.testing.assert_array_equal(bbox[2:], 0)


def test_crowds_are_never_positive_and_their_anchors_never_negative():
    config = SquareAnchorConfig()
    grid = AnchorGrid.for_image(config, (64, 64))
    crowd = np.array([0, 32, 64, 64], np.float32)
    match, bbox = build_rpn_targets(grid, np.array([-1, 1]), np.array([crowd, [12, 12, 20, 20]]), config,
                                    np.random.default_rng(0))
    touching = (grid.boxes[:, 3] > crowd[1]) & (grid.boxes[:, 2] > crowd[0])
    assert not (match[touching] == -1).any()
    assert np.flatnonzero(match == 1).tolist() == [4 * 16 + 4]
    assert (match[~touching] == 0).sum() == 4  # away from the crowd only the GT's 4 neighbours are neutral


def test_an_image_without_gt_gets_only_negatives():
    config = TinyConfig()
    grid = AnchorGrid.for_image(config, (128, 128))
    match, bbox = build_rpn_targets(grid, np.zeros(0, np.int32), np.zeros((0, 4)), config, np.random.default_rng(3))
    assert (match == -1).sum() == config.RPN_TRAIN_ANCHORS_PER_IMAGE
    assert (match == 1).sum() == 0
    np.testing.assert_array_equal(bbox, 0)
    crowd = np.array([[0, 0, 64, 128]], np.float32)
    crowd_only, _ = build_rpn_targets(grid, np.array([-1]), crowd, config, np.random.default_rng(3))
    assert (crowd_only == -1).sum() == config.RPN_TRAIN_ANCHORS_PER_IMAGE
    assert (compute_overlaps(grid.boxes[crowd_only == -1], crowd) < 0.001).all()


def test_a_gt_of_no_area_marks_nothing():
    config = SquareAnchorConfig()
    grid = AnchorGrid.for_image(config, (64, 64))
    match, _ = build_rpn_targets(grid, np.array([1]), np.array([[10, 10, 10, 30]]), config,
                                 np.random.default_rng(0))
    assert (match == 1).sum() == 0 and (match == -1).sum() == len(grid)


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_per_anchor_loop_on_random_gts(seed):
    config = TinyConfig()
    rng = np.random.default_rng(seed)
    count = [1, 3, 8, 15, 30, 5][seed]
    boxes = random_boxes(rng, count, 128)
    class_ids = rng.integers(1, config.NUM_CLASSES, count)
    if seed % 2:
        class_ids[0] = -1  # a crowd
    grid = AnchorGrid.for_image(config, (128, 128))
    match, bbox = build_rpn_targets(grid, class_ids, boxes, config, np.random.default_rng(seed))
    expected_match, expected_bbox = reference_rpn_targets(grid.boxes, class_ids, boxes, config,
                                                          np.random.default_rng(seed))
    np.testing.assert_array_equal(match, expected_match)
    np.testing.assert_allclose(bbox, expected_bbox, rtol=1e-5, atol=1e-5)
    positives = (match == 1).sum()
    assert 0 < positives <= config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    assert positives + (match == -1).sum() == config.RPN_TRAIN_ANCHORS_PER_IMAGE


def test_the_same_rng_seed_gives_the_same_sample_and_another_seed_another():
    config = TinyConfig()
    grid = AnchorGrid.for_image(config, (128, 128))
    boxes = random_boxes(np.random.default_rng(9), 6, 128)
    ids = np.ones(6, np.int32)
    first = build_rpn_targets(grid, ids, boxes, config, np.random.default_rng(1))[0]
    again = build_rpn_targets(grid, ids, boxes, config, np.random.default_rng(1))[0]
    other = build_rpn_targets(grid, ids, boxes, config, np.random.default_rng(2))[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# ------------------------------------------------------------------------------------------------ load_image_gt


class RectanglesDataset(Dataset):
    """Images of given sizes with axis-aligned rectangle instances; flat grey with brighter rectangles."""

    def __init__(self, images):
        super().__init__()
        self.add_class("shapes", 1, "square")
        self.add_class("shapes", 2, "bar")
        for index, (size, rects) in enumerate(images):
            self.add_image("shapes", index, None, size=size, rects=rects)
        self.prepare()

    def load_image(self, image_id):
        height, width = self.image_info[image_id]["size"]
        image = np.full((height, width, 3), 50, np.uint8)
        for y1, x1, y2, x2, _ in self.image_info[image_id]["rects"]:
            image[y1:y2, x1:x2] = 200
        return image

    def load_mask(self, image_id):
        return rectangle_masks(self.image_info[image_id]["size"], self.image_info[image_id]["rects"])


class ReducingRectanglesDataset(RectanglesDataset):
    """The same, but able to load reduced (as a dataset of huge JPEGs and RLE masks does), recording the requests.

    ``load_image(i, max_side)`` / ``load_mask(i, max_side)``: halved when ``max_side`` is half the longer side."""

    def __init__(self, images):
        super().__init__(images)
        for info in self.image_info:
            info["height"], info["width"] = info["size"]
        self.requested = []

    def load_image(self, image_id, max_side=None):
        self.requested.append(("image", max_side))
        image = super().load_image(image_id)
        return image if max_side is None else np.ascontiguousarray(image[::2, ::2])

    def load_mask(self, image_id, max_side=None):
        self.requested.append(("mask", max_side))
        masks, class_ids = super().load_mask(image_id)
        return (masks if max_side is None else masks[::2, ::2]), class_ids


def test_square_mode_places_the_image_as_matterport_and_moves_boxes_with_it():
    dataset = RectanglesDataset([((100, 200), [(10, 20, 50, 60, 1), (60, 100, 90, 190, 2)])])
    image, meta, class_ids, boxes, masks = load_image_gt(dataset, TinyConfig(), 0, rng=np.random.default_rng(0))
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    # scale 128 / 200 = 0.64 -> 64 x 128, padded by 32 rows on top and bottom
    meta = parse_image_meta(meta)
    assert meta.window.tolist() == [32, 0, 96, 128]
    assert meta.original_image_shape.tolist() == [100, 200, 3]
    assert meta.scale == pytest.approx(0.64)
    assert meta.active_class_ids.tolist() == [1, 1, 1, 0]
    assert class_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(boxes, [[32 + 6, 13, 32 + 32, 38], [32 + 38, 64, 32 + 58, 122]])
    assert masks.shape == (28, 28, 2) and masks.all()  # rectangles fill their boxes
    assert (image[:32] == 0).all() and (image[96:] == 0).all()
    assert (image[boxes[0, 0] + 1:boxes[0, 2] - 1, boxes[0, 1] + 1:boxes[0, 3] - 1] == 200).all()


def test_full_masks_without_mini_masks_cover_the_same_pixels():
    dataset = RectanglesDataset([((128, 96), [(5, 5, 40, 30, 1), (50, 10, 120, 90, 2)])])
    _, _, _, boxes, full = load_image_gt(dataset, TinyConfig(), 0, use_mini_mask=False)
    _, _, _, _, mini = load_image_gt(dataset, TinyConfig(), 0)
    assert full.shape == (128, 128, 2)
    np.testing.assert_array_equal(expand_mask(boxes, mini, (128, 128)), full)


def test_instances_that_vanish_are_dropped_and_an_image_without_any_is_kept():
    # a 1-pixel instance in a 1000-pixel-wide image disappears at scale 0.128 (nearest neighbour misses it)
    dataset = RectanglesDataset([((500, 1000), [(100, 101, 101, 102, 1), (200, 300, 400, 700, 2)]),
                                 ((90, 90), [])])
    _, meta, class_ids, boxes, masks = load_image_gt(dataset, TinyConfig(), 0)
    assert class_ids.tolist() == [2] and boxes.shape == (1, 4) and masks.shape == (28, 28, 1)
    image, meta, class_ids, boxes, masks = load_image_gt(dataset, TinyConfig(), 1)
    assert image.shape == (128, 128, 3)
    assert class_ids.shape == (0,) and boxes.shape == (0, 4) and masks.shape == (28, 28, 0)


def test_min_area_drops_small_instances():
    dataset = RectanglesDataset([((128, 128), [(0, 0, 3, 3, 1), (10, 10, 60, 60, 2)])])
    assert load_image_gt(dataset, TinyConfig(), 0, min_area=10)[2].tolist() == [2]
    assert load_image_gt(dataset, TinyConfig(), 0, min_area=9)[2].tolist() == [1, 2]


def test_a_dataset_that_loads_reduced_is_asked_for_the_scaled_size():
    dataset = ReducingRectanglesDataset([((256, 200), [(10, 20, 50, 60, 1)])])
    _, meta, _, boxes, _ = load_image_gt(dataset, TinyConfig(), 0)
    assert dataset.requested == [("image", 128), ("mask", 128)]
    assert parse_image_meta(meta).window.tolist() == [0, 14, 128, 114]
    np.testing.assert_array_equal(boxes, [[5, 14 + 10, 25, 14 + 30]])


def test_crop_mode_crops_reproducibly_from_the_rng():
    config = TinyConfig(IMAGE_RESIZE_MODE="crop")  # 64x64 crops of the image at its own scale
    dataset = RectanglesDataset([((100, 150), [(0, 0, 100, 75, 1)])])
    first = load_image_gt(dataset, config, 0, rng=np.random.default_rng(5))
    again = load_image_gt(dataset, config, 0, rng=np.random.default_rng(5))
    assert first[0].shape == (64, 64, 3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    crops = {load_image_gt(dataset, config, 0, rng=np.random.default_rng(seed))[3].tobytes() for seed in range(8)}
    assert len(crops) > 1


def test_multiscale_draws_the_short_side_and_fits_the_canvas():
    dataset = RectanglesDataset([((100, 150), [(10, 10, 90, 140, 1)])])
    for seed in range(5):
        gt = load_ground_truth(dataset, TinyConfig(), 0, rng=np.random.default_rng(seed),
                               multiscale=MultiScale(60, 160, 200))
        scale = parse_image_meta(gt.image_meta).scale
        assert 0.6 <= scale <= 1.6 + 1e-6
        y1, x1, y2, x2 = gt.window
        assert 0 <= y1 <= y2 <= 128 and 0 <= x1 <= x2 <= 128
        assert gt.content.shape == (y2 - y1, x2 - x1, 3)


def test_augmentation_sees_the_placed_content_and_its_masks():
    seen = {}

    def flip(image, masks, seed):
        seen["shapes"] = (image.shape, masks.shape, seed)
        return image[:, ::-1], masks[:, :, ::-1]

    dataset = RectanglesDataset([((64, 128), [(0, 0, 64, 32, 1)])])
    _, _, _, boxes, _ = load_image_gt(dataset, TinyConfig(), 0, augmentation=flip, rng=np.random.default_rng(0))
    assert seen["shapes"][:2] == ((64, 128, 3), (1, 64, 128))
    np.testing.assert_array_equal(boxes, [[32, 96, 96, 128]])


def test_a_failing_loader_or_mismatched_masks_raise_data_error_naming_the_image():
    class Broken(RectanglesDataset):
        def image_reference(self, image_id):
            return f"broken_{image_id}.jpg"

        def load_image(self, image_id):
            raise OSError("truncated file")

    with pytest.raises(DataError, match=r"broken_0\.jpg.*truncated file"):
        load_image_gt(Broken([((64, 64), [])]), TinyConfig(), 0)

    class Mismatched(RectanglesDataset):
        def load_mask(self, image_id):
            return np.zeros((32, 32, 1), bool), np.array([1], np.int32)

    with pytest.raises(DataError, match="do not match"):
        load_image_gt(Mismatched([((64, 64), [])]), TinyConfig(), 0)


def test_keep_visible_instances_gives_tight_boxes_in_either_memory_layout():
    masks = np.zeros((3, 20, 30), bool)
    masks[0, 2:5, 3:9] = True  # 18 pixels
    masks[2, 10:20, 0:30] = True
    column_major = np.asfortranarray(masks.transpose(1, 2, 0)).transpose(2, 0, 1)  # as RLE decoding lays them
    for layout in (masks, column_major):
        kept, class_ids, boxes = keep_visible_instances(layout, np.array([1, 2, 3]), min_area=1)
        assert class_ids.tolist() == [1, 3]
        np.testing.assert_array_equal(kept, masks[[0, 2]])
        np.testing.assert_array_equal(boxes, [[2, 3, 5, 9], [10, 0, 20, 30]])
    assert keep_visible_instances(column_major, np.array([1, 2, 3]), min_area=19)[1].tolist() == [3]
