"""RPN targets for one image (the numpy side of training; an image's ground truth is :mod:`.ground_truth`).

RPN targets follow matterport's rules (``build_rpn_targets``), vectorised and restricted to the anchors that can
matter. Anchors lie on one regular grid per (pyramid level, ratio), and the box of the anchor in row ``i`` and column
``j`` is ``(y1[i], x1[j], y2[i], x2[j])``. So for each GT box and grid, the anchors that could reach a given IoU form a
rectangle of rows and columns, found by binary search; only those pairs are computed (float32, no
``[anchors, GTs]`` matrix). For a 1024x1024 image with 7 GTs that is a few thousand IoUs instead of 1.8 million.

Differences from matterport, all deliberate:

- An image without (non-crowd) GT gets targets too: every anchor away from crowds is a negative candidate, and
  ``RPN_TRAIN_ANCHORS_PER_IMAGE`` of them are sampled. matterport's generator skipped such images (its
  ``build_rpn_targets`` fails on them).
- A GT whose best anchor IoU is 0 (a box of no area, or one outside every anchor) marks no anchor; matterport's
  ``overlaps == max(overlaps, axis=0)`` marked *every* anchor of such a GT positive.
- GT class id 0 (padding) is ignored; negative ids are crowds, as in matterport.
- Sub-sampling draws the kept anchors (not the dropped ones) from the given ``numpy.random.Generator``.
- IoU is computed in float32 (matterport: float64), so near-ties may resolve differently.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .anchors import compute_backbone_shapes, generate_pyramid_anchors
from .boxes import box_refinement


NEGATIVE_IOU = 0.3  # an anchor whose best IoU with every GT is below this is a negative candidate
POSITIVE_IOU = 0.7  # an anchor with an IoU at least this with some GT is positive
CROWD_IOU = 0.001  # an anchor touching a crowd at least this much is never negative
_FALLBACK_IOUS = (0.1, 0.03, 0.0)  # searched in turn for GTs without any anchor at IoU >= NEGATIVE_IOU

_SLACK = 1e-2  # pixels added to every search window, so float32 rounding cannot shrink a window below its true size
_BLOCK_SPACING = 1e6  # separates the blocks' coordinates in one sorted array (images are far smaller than this)


class AnchorGrid:
    """The pixel anchors of one training image size, with the grid structure :func:`build_rpn_targets` exploits.

    ``boxes``: float32 ``[num_anchors, (y1, x1, y2, x2)]`` pixels, exactly ``get_pixel_anchors(config, image_shape)``
    in matterport's order (levels P2..P6; per level positions row-major; per position one anchor per ratio).
    Build it with :meth:`for_image` (cached per configuration and size).

    Internally the anchors form one *block* per (level, ratio): a ``rows x cols`` grid whose anchor ``(i, j)`` is
    ``boxes[offset + (i * cols + j) * step]`` with box ``(y1[i], x1[j], y2[i], x2[j])``. The blocks' row coordinates
    are stored end to end (``row_y1``, ``row_y2``; block ``b`` from ``row_start[b]``), shifted by ``b * 1e6`` in
    ``row_key_y1`` / ``row_key_y2`` so that one binary search finds windows in all blocks at once; columns alike.
    """

    def __init__(self, boxes: np.ndarray, block_sizes: np.ndarray, offsets: np.ndarray, step: int,
                 rows: np.ndarray, cols: np.ndarray):
        self.boxes = boxes
        self.block_height = block_sizes[:, 0]
        self.block_width = block_sizes[:, 1]
        self.offsets = offsets
        self.step = step
        self.cols = cols
        self.row_start = np.concatenate([[0], np.cumsum(rows)[:-1]])
        self.col_start = np.concatenate([[0], np.cumsum(cols)[:-1]])
        row_index = np.concatenate([offset + np.arange(r) * c * step for offset, r, c in zip(offsets, rows, cols)])
        col_index = np.concatenate([offset + np.arange(c) * step for offset, c in zip(offsets, cols)])
        self.row_y1, self.row_y2 = boxes[row_index, 0], boxes[row_index, 2]
        self.col_x1, self.col_x2 = boxes[col_index, 1], boxes[col_index, 3]
        row_shift = np.repeat(np.arange(len(rows)) * _BLOCK_SPACING, rows)
        col_shift = np.repeat(np.arange(len(cols)) * _BLOCK_SPACING, cols)
        self.row_key_y1, self.row_key_y2 = self.row_y1 + row_shift, self.row_y2 + row_shift
        self.col_key_x1, self.col_key_x2 = self.col_x1 + col_shift, self.col_x2 + col_shift
        # The search relies on this layout: check it once per grid rather than trust it.
        for b, (offset, r, c) in enumerate(zip(offsets, rows, cols)):
            block = boxes[offset:offset + r * c * step:step].reshape(r, c, 4)
            ys = np.s_[self.row_start[b]:self.row_start[b] + r]
            xs = np.s_[self.col_start[b]:self.col_start[b] + c]
            if not (np.array_equal(block[:, :, 0], np.broadcast_to(self.row_y1[ys, None], (r, c)))
                    and np.array_equal(block[:, :, 2], np.broadcast_to(self.row_y2[ys, None], (r, c)))
                    and np.array_equal(block[:, :, 1], np.broadcast_to(self.col_x1[None, xs], (r, c)))
                    and np.array_equal(block[:, :, 3], np.broadcast_to(self.col_x2[None, xs], (r, c)))):
                raise RuntimeError("anchors are no longer laid out as per-level row-major grids; AnchorGrid must "
                                   "follow generate_pyramid_anchors")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def for_image(cls, config, image_shape) -> "AnchorGrid":
        """The anchors of ``config`` for a molded image of ``image_shape`` (H, W[, C])."""
        shapes = compute_backbone_shapes(config, image_shape)
        return _cached_grid(
            tuple(float(s) for s in config.RPN_ANCHOR_SCALES), tuple(float(r) for r in config.RPN_ANCHOR_RATIOS),
            tuple(int(s) for s in config.BACKBONE_STRIDES), int(config.RPN_ANCHOR_STRIDE),
            tuple(tuple(int(v) for v in shape) for shape in shapes),
        )

    def candidate_pairs(self, gt_boxes: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (anchor, GT) pair whose IoU may be ``>= min_iou`` (a superset), with its exact float32 IoU.

        ``min_iou = 0`` asks for every pair whose boxes may overlap. Returns ``anchor_index`` int64 ``[P]``,
        ``gt_index`` int64 ``[P]`` and ``iou`` float32 ``[P]``; the caller filters by IoU.
        """
        gt = np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4)
        num_blocks = len(self.offsets)
        gy1, gx1, gy2, gx2 = (gt[None, :, k].astype(np.float64) for k in range(4))  # [1, G]
        g_height, g_width = np.maximum(gy2 - gy1, 0), np.maximum(gx2 - gx1, 0)
        a_height, a_width = self.block_height[:, None], self.block_width[:, None]  # [B, 1]
        # IoU >= t  <=>  intersection >= t / (1 + t) * (anchor area + GT area). The overlap along x is at most the
        # narrower of the two widths, so the overlap along y must be at least that bound divided by it, and vice
        # versa: a window of rows and of columns per (block, GT). A GT of no width or height gets an empty window.
        min_intersection = min_iou / (1.0 + min_iou) * (a_height * a_width + g_height * g_width)  # [B, G]
        narrow_w = np.minimum(a_width, g_width)
        narrow_h = np.minimum(a_height, g_height)
        min_dy = np.divide(min_intersection, narrow_w, out=np.full(narrow_w.shape, np.inf), where=narrow_w > 0)
        min_dx = np.divide(min_intersection, narrow_h, out=np.full(narrow_h.shape, np.inf), where=narrow_h > 0)
        min_dy -= _SLACK
        min_dx -= _SLACK
        shift = np.arange(num_blocks)[:, None] * _BLOCK_SPACING
        row_lo = np.searchsorted(self.row_key_y2, (gy1 + min_dy + shift).ravel(), side="left")
        row_hi = np.searchsorted(self.row_key_y1, (gy2 - min_dy + shift).ravel(), side="right")
        col_lo = np.searchsorted(self.col_key_x2, (gx1 + min_dx + shift).ravel(), side="left")
        col_hi = np.searchsorted(self.col_key_x1, (gx2 - min_dx + shift).ravel(), side="right")
        n_rows = np.maximum(row_hi - row_lo, 0)
        n_cols = np.maximum(col_hi - col_lo, 0)
        counts = n_rows * n_cols  # [B * G], (block, GT) pairs block-major
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        # one entry per window cell, pair by pair, cells row-major: a ragged arange without a Python loop
        pair = np.repeat(np.arange(len(counts)), counts)
        rank = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        width_of = n_cols[pair]
        rows = row_lo[pair] + rank // width_of
        cols = col_lo[pair] + rank % width_of
        block, gt_index = np.divmod(pair, len(gt))
        box = gt[gt_index]
        iou = _iou(self.row_y1[rows], self.col_x1[cols], self.row_y2[rows], self.col_x2[cols],
                   box[:, 0], box[:, 1], box[:, 2], box[:, 3])
        local = (rows - self.row_start[block]) * self.cols[block] + cols - self.col_start[block]
        return self.offsets[block] + local * self.step, gt_index, iou


def _iou(ay1, ax1, ay2, ax2, by1, bx1, by2, bx2) -> np.ndarray:
    """Element-wise IoU of float32 boxes; the one formula every RPN-target path uses (so results agree bit for bit)."""
    inter = np.maximum(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0) * \
        np.maximum(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0)
    union = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, np.float32(0)).astype(np.float32)


@lru_cache(maxsize=8)
def _cached_grid(scales, ratios, strides, anchor_stride, feature_shapes) -> AnchorGrid:
    boxes = generate_pyramid_anchors(scales, ratios, feature_shapes, strides, anchor_stride).astype(np.float32)
    boxes.setflags(write=False)
    offsets, sizes, rows, cols = [], [], [], []
    level_start = 0
    for scale, (feature_rows, feature_cols) in zip(scales, feature_shapes):
        level_rows = len(range(0, feature_rows, anchor_stride))
        level_cols = len(range(0, feature_cols, anchor_stride))
        for k, ratio in enumerate(ratios):
            offsets.append(level_start + k)
            sizes.append((scale / np.sqrt(ratio), scale * np.sqrt(ratio)))
            rows.append(level_rows)
            cols.append(level_cols)
        level_start += level_rows * level_cols * len(ratios)
    if level_start != len(boxes):
        raise RuntimeError(f"anchor grid accounts for {level_start} anchors, the generator made {len(boxes)}")
    return AnchorGrid(boxes, np.array(sizes), np.array(offsets), len(ratios), np.array(rows), np.array(cols))


def box_iou_matrix(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """float32 IoU ``[N1, N2]`` with the same arithmetic as the RPN targets (for small sets only)."""
    a = np.asarray(boxes1, dtype=np.float32).reshape(-1, 1, 4)
    b = np.asarray(boxes2, dtype=np.float32).reshape(1, -1, 4)
    return _iou(a[..., 0], a[..., 1], a[..., 2], a[..., 3], b[..., 0], b[..., 1], b[..., 2], b[..., 3])


def build_rpn_targets(anchors: AnchorGrid, gt_class_ids: np.ndarray, gt_boxes: np.ndarray, config,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RPN training targets of one image, matterport's rules.

    anchors: :class:`AnchorGrid` of the molded image size. gt_class_ids: int ``[N]`` (negative: crowd, 0: ignored).
    gt_boxes: ``[N, (y1, x1, y2, x2)]`` pixels of the molded image (y2, x2 exclusive).

    Returns ``rpn_match`` int32 ``[num_anchors]`` (1 positive, -1 negative, 0 neutral) and ``rpn_bbox`` float32
    ``[RPN_TRAIN_ANCHORS_PER_IMAGE, (dy, dx, log(dh), log(dw))]``: the deltas of the positive anchors, in anchor
    order, divided by ``RPN_BBOX_STD_DEV``, zero-padded.

    Rules: anchors whose IoU with a crowd is >= 0.001 are never negative; an anchor is a negative candidate when its
    best IoU is < 0.3; every GT's best anchors (all ties) are positive, and so is every anchor with IoU >= 0.7; at
    most half of ``RPN_TRAIN_ANCHORS_PER_IMAGE`` positives are kept (a random subset), and negatives fill the rest.
    A positive's deltas point at the GT it overlaps most (lowest index among equals).
    """
    rng = rng if rng is not None else np.random.default_rng()
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4)
    num_anchors = len(anchors)
    rpn_match = np.zeros(num_anchors, dtype=np.int32)
    rpn_bbox = np.zeros((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), dtype=np.float32)

    negative = np.ones(num_anchors, dtype=bool)
    crowd_boxes = gt_boxes[gt_class_ids < 0]
    if len(crowd_boxes):
        anchor_index, _, iou = anchors.candidate_pairs(crowd_boxes, CROWD_IOU)
        negative[anchor_index[iou >= CROWD_IOU]] = False

    boxes = gt_boxes[gt_class_ids > 0]
    positive = np.zeros(num_anchors, dtype=bool)
    if len(boxes):
        anchor_index, gt_index, iou = anchors.candidate_pairs(boxes, NEGATIVE_IOU)
        close = iou >= NEGATIVE_IOU
        anchor_index, gt_index, iou = anchor_index[close], gt_index[close], iou[close]
        negative[anchor_index] = False
        positive[anchor_index[iou >= POSITIVE_IOU]] = True
        _mark_best_anchors(anchors, boxes, anchor_index, gt_index, iou, positive)
    positives = np.flatnonzero(positive)
    half = config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    if len(positives) > half:
        positives = positives[np.sort(rng.choice(len(positives), half, replace=False))]
    # Negatives are most anchors: pick their ranks, then map ranks to indices through the (few) other anchors,
    # instead of listing a quarter of a million indices.
    others = np.flatnonzero(~(negative & ~positive))
    num_negatives = num_anchors - len(others)
    wanted = config.RPN_TRAIN_ANCHORS_PER_IMAGE - len(positives)
    ranks = np.arange(num_negatives)
    if num_negatives > wanted:
        ranks = np.sort(rng.choice(num_negatives, wanted, replace=False))
    negatives = ranks + np.searchsorted(others - np.arange(len(others)), ranks, side="right")
    rpn_match[negatives] = -1
    rpn_match[positives] = 1
    if len(positives):
        nearest_gt = np.argmax(box_iou_matrix(anchors.boxes[positives], boxes), axis=1)
        deltas = box_refinement(anchors.boxes[positives], boxes[nearest_gt])
        rpn_bbox[:len(positives)] = deltas / np.asarray(config.RPN_BBOX_STD_DEV, dtype=np.float32)
    return rpn_match, rpn_bbox


def _mark_best_anchors(anchors: AnchorGrid, boxes: np.ndarray, anchor_index, gt_index, iou, positive) -> None:
    """Set ``positive`` for each GT's best anchors, all ties included.

    ``(anchor_index, gt_index, iou)`` are all pairs with IoU >= 0.3. A GT without any (small or thin) is searched
    again with lower thresholds: once a search at threshold ``t`` finds an IoU >= ``t``, it holds the GT's best
    anchors and all their ties, since it holds every pair with IoU >= ``t``.
    """
    best = np.zeros(len(boxes), dtype=np.float32)
    np.maximum.at(best, gt_index, iou)
    found = [(anchor_index, gt_index, iou)]
    for threshold in _FALLBACK_IOUS:
        missing = np.flatnonzero(best < max(threshold, np.finfo(np.float32).tiny))
        if not len(missing):
            break
        more_anchor, more_gt, more_iou = anchors.candidate_pairs(boxes[missing], threshold)
        keep = more_iou >= threshold
        more_anchor, more_gt, more_iou = more_anchor[keep], missing[more_gt[keep]], more_iou[keep]
        np.maximum.at(best, more_gt, more_iou)
        found.append((more_anchor, more_gt, more_iou))
    anchor_index, gt_index, iou = (np.concatenate(parts) for parts in zip(*found))
    ties = (iou == best[gt_index]) & (iou > 0)
    positive[anchor_index[ties]] = True


# ------------------------------------------------------------------------------------------------- ground truth
