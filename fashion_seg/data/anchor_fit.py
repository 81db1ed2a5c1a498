"""Box sizes of the training masks against the RPN anchor scales, and anchor scales fitted to them.

A box's size is ``sqrt(height * width)`` of its mask's bounding box in pixels *at the training scale* (the image
scaled as the config's resize mode scales it, :func:`fashion_seg.mrcnn.canvas.mode_scale`), the quantity matterport's
``RPN_ANCHOR_SCALES`` (the side of a square anchor, one per pyramid level) is compared with. Each box is assigned
to the anchor scale nearest to it in octaves (log2); a box more than half an octave from every scale is poorly
covered: with the three aspect ratios its best anchor overlap stays below the RPN's positive IoU.

Suggested scales (:func:`suggest_anchor_scales`): one per pyramid level, an octave apart, placed where they leave
the fewest boxes poorly covered and lie closest to the boxes between the 2nd and the 98th percentile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import plots
from ..atomic import atomic_write
from ..errors import RLEError
from ..mrcnn.canvas import mode_scale
from . import rle

#: a box further than this (octaves) from every anchor scale counts as poorly covered
POOR_COVERAGE_OCTAVES = 0.5


def runs_box(runs: rle.Runs, height: int) -> tuple[int, int, int, int] | None:
    """Bounding box ``(y1, x1, y2, x2)`` (inclusive pixel indices) of a mask given as column-major runs of a mask
    ``height`` pixels high, or None for the empty mask; no pixel array is built."""
    if len(runs.starts) == 0:
        return None
    starts, ends = runs.starts, runs.starts + runs.lengths - 1
    start_cols, end_cols = starts // height, ends // height
    wraps = start_cols != end_cols  # a run that continues into the next column covers every row of the mask
    top = np.where(wraps, 0, starts % height).min()
    bottom = np.where(wraps, height - 1, ends % height).max()
    return int(top), int(start_cols.min()), int(bottom), int(end_cols.max())


def box_sizes(annotations: pd.DataFrame, config) -> np.ndarray:
    """``float [N]``: sqrt of the box area at the training scale of every non-empty mask of ``annotations``
    (``EncodedPixels``, ``Height``, ``Width`` columns, as :func:`~fashion_seg.data.train_csv.read_train_csv`);
    rows that do not parse are skipped (``dataHandling.py validate`` lists them)."""
    sizes = []
    for encoded, height, width in zip(annotations["EncodedPixels"], annotations["Height"], annotations["Width"]):
        height, width = int(height), int(width)
        if height < 1 or width < 1:
            continue
        try:
            box = runs_box(rle.parse_runs(encoded, height, width), height)
        except RLEError:
            continue
        if box is not None:
            y1, x1, y2, x2 = box
            sizes.append(mode_scale(height, width, config) * np.sqrt((y2 - y1 + 1) * (x2 - x1 + 1)))
    return np.asarray(sizes, dtype=np.float64)


def _octaves_to_nearest(sizes: np.ndarray, scales: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per size ``[N]``: the index of the nearest scale and the distance to it, both in log2 (octaves)."""
    distance = np.abs(np.log2(sizes)[:, None] - np.log2(np.asarray(scales, dtype=np.float64))[None, :])
    return distance.argmin(axis=1), distance.min(axis=1)


def suggest_anchor_scales(sizes: Sequence[float], levels: int = 5, low: float = 2.0, high: float = 98.0
                          ) -> tuple[int, ...]:
    """``levels`` whole-pixel scales an octave apart (FPN doubles the stride from level to level), placed to cover
    the sizes: the smallest scale is searched in 1/64-octave steps over the octave around the ``low``-th
    percentile, and the placement with the fewest boxes more than :data:`POOR_COVERAGE_OCTAVES` from every scale
    wins; ties go to the smallest mean distance (octaves) to the nearest scale of the boxes between the ``low``-th
    and the ``high``-th percentile (outliers left out), then to the smaller scales."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.size == 0:
        raise ValueError("no boxes to fit anchor scales to")
    first, last = np.percentile(sizes, [low, high])
    inliers = sizes[(sizes >= first) & (sizes <= last)]
    best, best_key = None, None
    for step in range(64):
        smallest = max(1, int(round(2 ** (np.log2(first) - 0.5 + step / 64))))
        scales = tuple(smallest * 2 ** level for level in range(levels))
        _, distance = _octaves_to_nearest(sizes, scales)
        _, inlier_distance = _octaves_to_nearest(inliers, scales)
        key = (int((distance > POOR_COVERAGE_OCTAVES).sum()), round(float(inlier_distance.mean()), 12), smallest)
        if best_key is None or key < best_key:
            best, best_key = scales, key
    return best


@dataclass(frozen=True)
class AnchorFit:
    """``coverage``: one row per anchor scale (``scale``, ``boxes`` nearest to it, ``share``, ``smallest``,
    ``median``, ``largest`` of those boxes); ``percentiles``: size at the 2/25/50/75/98th percentile;
    ``poorly_covered``: share of boxes more than :data:`POOR_COVERAGE_OCTAVES` from every scale, with the
    current and with the suggested scales."""

    scales: tuple[int, ...]
    suggested: tuple[int, ...]
    coverage: pd.DataFrame
    percentiles: dict[float, float]
    poorly_covered: float
    poorly_covered_suggested: float

    def summary(self) -> str:
        percentiles = ", ".join(f"p{p:g} {v:.1f}" for p, v in self.percentiles.items())
        return "\n".join([
            f"box sizes (sqrt of the box area, px at the training scale): {percentiles}",
            self.coverage.to_string(index=False, float_format=lambda v: f"{v:.2f}"),
            f"RPN_ANCHOR_SCALES {self.scales}: {self.poorly_covered:.1%} of the boxes more than "
            f"{POOR_COVERAGE_OCTAVES:g} octave from every scale",
            f"suggested RPN_ANCHOR_SCALES {self.suggested} (octaves fitted to the boxes): "
            f"{self.poorly_covered_suggested:.1%} poorly covered; use --set RPN_ANCHOR_SCALES="
            + ",".join(str(s) for s in self.suggested),
        ])


def fit_anchors(sizes: Sequence[float], scales: Sequence[int]) -> AnchorFit:
    """Compare box ``sizes`` with anchor ``scales`` and suggest as many scales (see the module docstring)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    suggested = suggest_anchor_scales(sizes, levels=len(scales))
    nearest, distance = _octaves_to_nearest(sizes, scales)
    rows = []
    for index, scale in enumerate(scales):
        mine = sizes[nearest == index]
        empty = mine.size == 0
        rows.append({"scale": int(scale), "boxes": int(mine.size), "share": mine.size / sizes.size,
                     "smallest": np.nan if empty else mine.min(), "median": np.nan if empty else np.median(mine),
                     "largest": np.nan if empty else mine.max()})
    _, suggested_distance = _octaves_to_nearest(sizes, suggested)
    percentiles = dict(zip((2.0, 25.0, 50.0, 75.0, 98.0), np.percentile(sizes, [2, 25, 50, 75, 98]).tolist()))
    return AnchorFit(tuple(int(s) for s in scales), suggested, pd.DataFrame(rows), percentiles,
                     float((distance > POOR_COVERAGE_OCTAVES).mean()),
                     float((suggested_distance > POOR_COVERAGE_OCTAVES).mean()))


def write_anchor_fit(fit: AnchorFit, sizes: Sequence[float], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``anchor_coverage.csv`` (:attr:`AnchorFit.coverage`) and ``box_sizes.png`` (a histogram of the sizes
    in log2 bins); returns the paths."""
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "anchor_coverage.csv", newline="") as handle:
        fit.coverage.to_csv(handle, index=False)
    sizes = np.asarray(sizes, dtype=np.float64)
    bins = 2 ** np.arange(np.floor(np.log2(sizes.min())), np.ceil(np.log2(sizes.max())) + 0.25, 0.25)
    title = f"Box sizes; anchors {fit.scales}, suggested {fit.suggested}"
    return [out_dir / "anchor_coverage.csv",
            plots.histogram(sizes, out_dir / "box_sizes.png", title, "sqrt(box area), px at the training scale", bins)]
