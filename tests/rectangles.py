"""Instance masks of axis-aligned rectangles, for the test datasets that draw them."""

import numpy as np


def rectangle_masks(size, rects) -> tuple[np.ndarray, np.ndarray]:
    """``(masks bool [H, W, N], class_ids int32 [N])`` of ``rects`` ``(y1, x1, y2, x2, class_id)`` in an image of
    ``size`` ``(height, width)``: what a dataset's ``load_mask`` returns."""
    masks = np.zeros(tuple(size) + (len(rects),), bool)
    for i, (y1, x1, y2, x2, _) in enumerate(rects):
        masks[y1:y2, x1:x2, i] = True
    return masks, np.array([rect[-1] for rect in rects], np.int32)
