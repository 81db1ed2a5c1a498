"""Kaggle run-length encoding of masks, and conversion to and from pycocotools RLE.

The Kaggle convention (iMaterialist 2019 train.csv and submissions): pixels are numbered from 1, top to bottom, then
left to right (column-major, Fortran order); a mask is written as space-separated ``start length`` pairs, sorted by
start, runs not overlapping. The empty mask is the empty string.

Inside the package a mask's runs travel as :class:`Runs` (0-based starts into the column-major flattened mask, and
lengths), so that resizing, area and conversion to pycocotools never need the full-size pixel array. Everything here
is vectorised numpy: no Python loop per run or per pixel.

Arrays: a mask is ``bool [H, W]``. :func:`decode` returns a Fortran-ordered array (like ``pycocotools.mask.decode``);
call ``np.ascontiguousarray`` if C order matters to you. :func:`encode` takes any layout and any dtype (non-zero is
foreground) without copying a C- or Fortran-contiguous bool mask.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import pycocotools.mask as coco_mask

from ..errors import RLEError
from .mask_geometry import nearest_indices

_DIGITS_AND_SPACE = b"0123456789 "


class Runs(NamedTuple):
    """Foreground runs of a mask flattened in column-major order.

    ``starts``: int64 ``[K]``, 0-based, ascending; ``lengths``: int64 ``[K]``, each >= 1. Runs never overlap; after
    :func:`runs_from_mask` or :func:`resize_runs` they never touch either (the canonical encoding).
    """

    starts: np.ndarray
    lengths: np.ndarray

    @property
    def area(self) -> int:
        """Number of foreground pixels."""
        return int(self.lengths.sum())

    @staticmethod
    def empty() -> "Runs":
        return Runs(np.zeros(0, np.int64), np.zeros(0, np.int64))


# ----------------------------------------------------------------------------------------------------------- parsing


def _first_bad_token(rle: str) -> str:
    for token in rle.split():
        if not (token.isascii() and token.isdigit()):
            return token
    return rle  # only reached for non-ASCII whitespace, which split() already treats as a separator


def parse_runs(rle: str, height: int, width: int) -> Runs:
    """Parse and strictly validate a Kaggle RLE string for a ``height`` x ``width`` mask.

    Raises :class:`RLEError` naming the problem: a non-integer token, an odd number of values, a start below 1, a
    length below 1, runs out of order or overlapping, or a run past ``height * width``. Whitespace between tokens
    may be any run of spaces; ``''`` (or ``nan`` from pandas) is the empty mask.
    """
    if not isinstance(rle, str):
        if rle is None or (isinstance(rle, float) and np.isnan(rle)):
            return Runs.empty()
        raise RLEError(f"RLE must be a string of 'start length' pairs, got {type(rle).__name__} {rle!r}")
    if height < 1 or width < 1:
        raise RLEError(f"mask size {height}x{width} is not positive")
    num_pixels = int(height) * int(width)
    try:
        leftover = rle.encode("ascii").translate(None, _DIGITS_AND_SPACE)
    except UnicodeEncodeError:
        raise RLEError(f"non-integer token {_first_bad_token(rle)!r}: RLE holds only digits and spaces") from None
    if leftover:
        raise RLEError(f"non-integer token {_first_bad_token(rle)!r}: RLE holds only digits and spaces")
    values = np.fromstring(rle, dtype=np.int64, sep=" ")  # validated above: digits and spaces only
    if values.size % 2:
        raise RLEError(f"odd number of values ({values.size}): RLE must be 'start length' pairs")
    starts = values[0::2]
    lengths = values[1::2]
    if starts.size == 0:
        return Runs.empty()
    if starts.min() < 1:
        k = int(np.argmax(starts < 1))
        raise RLEError(f"start {starts[k]} of pair {k + 1} is below 1 (Kaggle RLE pixels are numbered from 1)")
    if lengths.min() < 1:
        k = int(np.argmax(lengths < 1))
        raise RLEError(f"length {lengths[k]} of pair {k + 1} is below 1")
    # numbers too large for int64 saturate; bounding starts and lengths first keeps start + length from overflowing
    too_far = (starts > num_pixels) | (lengths > num_pixels)
    if too_far.any():
        k = int(np.argmax(too_far))
        raise RLEError(
            f"run {starts[k]} {lengths[k]} (pair {k + 1}) lies past the last pixel {num_pixels} of a {height}x{width} mask"
        )
    starts = starts - 1
    ends = starts + lengths
    if (ends > num_pixels).any():
        k = int(np.argmax(ends > num_pixels))
        raise RLEError(
            f"run {starts[k] + 1} {lengths[k]} (pair {k + 1}) ends at pixel {ends[k]}, "
            f"past the last pixel {num_pixels} of a {height}x{width} mask"
        )
    disordered = starts[1:] < ends[:-1]
    if disordered.any():
        k = int(np.argmax(disordered)) + 1
        what = "is out of order" if starts[k] < starts[k - 1] else "overlaps the previous run"
        raise RLEError(
            f"run {starts[k] + 1} {lengths[k]} (pair {k + 1}) {what} (previous run {starts[k - 1] + 1} "
            f"{lengths[k - 1]}): runs must be sorted and must not overlap"
        )
    return Runs(starts, lengths)


def format_runs(runs: Runs) -> str:
    """Kaggle RLE string of ``runs`` (1-based starts)."""
    pairs = np.empty(2 * runs.starts.size, dtype=np.int64)
    pairs[0::2] = runs.starts + 1
    pairs[1::2] = runs.lengths
    return " ".join(map(str, pairs.tolist()))


# ----------------------------------------------------------------------------------------------------- mask <-> runs


def _change_points_column_major(mask: np.ndarray) -> np.ndarray:
    """Sorted positions p in the column-major flattening where pixel p differs from pixel p-1 (0 and N included).

    Works on the mask's own memory layout, so neither a C- nor a Fortran-ordered mask is transposed (a transposing
    copy of a 5000x3500 mask costs ~100 ms, more than everything else here together).
    """
    height, width = mask.shape
    num_pixels = height * width
    if mask.flags.f_contiguous:
        flat = mask.T.reshape(-1)  # a view: column-major order is the memory order
        inner = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        edges = []
    else:
        mask = np.ascontiguousarray(mask)
        # changes down a column, found in row-major memory order, then renumbered column-major
        index = np.flatnonzero(mask[1:] != mask[:-1])
        rows, cols = np.divmod(index, width)
        inner = cols * height + rows + 1
        # changes across a column boundary: the bottom of column c-1 against the top of column c
        seams = np.flatnonzero(mask[0, 1:] != mask[-1, :-1]) + 1
        edges = [seams * height]
    first = [0] if mask[0, 0] else []
    last = [num_pixels] if mask[-1, -1] else []
    points = np.concatenate([np.asarray(first, np.int64), inner.astype(np.int64), *edges, np.asarray(last, np.int64)])
    if edges:
        points.sort()
    return points


def runs_from_mask(mask: np.ndarray) -> Runs:
    """Runs of a 2-D mask (any dtype; non-zero is foreground)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise RLEError(f"a mask to encode must be 2-D [H, W], got shape {mask.shape}")
    if mask.dtype != bool:
        mask = mask != 0
    if mask.size == 0:
        return Runs.empty()
    points = _change_points_column_major(mask)
    starts = points[0::2]
    return Runs(starts, points[1::2] - starts)


def runs_from_crop(crop: np.ndarray, top: int, left: int, height: int) -> Runs:
    """Runs of a mask that is empty except for ``crop`` (bool ``[h, w]``) placed at row ``top``, column ``left`` of
    an image ``height`` rows tall: what :func:`runs_from_mask` gives for the full mask, at the cost of the crop.

    The crop must lie inside the image (``0 <= top``, ``top + h <= height``, ``0 <= left``).
    """
    crop = np.asarray(crop, dtype=bool)
    rows, cols = crop.shape
    if top < 0 or left < 0 or top + rows > height:
        raise RLEError(f"a {rows}x{cols} crop at ({top}, {left}) does not fit an image {height} rows tall")
    if crop.size == 0:
        return Runs.empty()
    # Pad each column with a background pixel above and below: in the flattened padded crop, changes then come in
    # (start, end) pairs that never cross a column.
    padded = np.zeros((cols, rows + 2), dtype=bool)
    padded[:, 1:-1] = crop.T
    flat = padded.reshape(-1)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts, ends = changes[0::2], changes[1::2]
    column, row = np.divmod(starts, rows + 2)
    positions = (left + column).astype(np.int64) * height + top + row - 1
    return _merge_touching(positions, positions + (ends - starts))


def _alternating_counts(runs: Runs, num_pixels: int) -> np.ndarray:
    """Lengths of the alternating background / foreground stretches of ``runs`` over ``num_pixels`` pixels,
    starting with background (possibly 0 long) and ending with background (possibly 0 long)."""
    counts = np.empty(2 * runs.starts.size + 1, dtype=np.int64)
    if runs.starts.size:
        ends = runs.starts + runs.lengths
        counts[0] = runs.starts[0]
        counts[1:-1:2] = runs.lengths
        counts[2:-1:2] = runs.starts[1:] - ends[:-1]
        counts[-1] = num_pixels - ends[-1]
    else:
        counts[0] = num_pixels
    return counts


def runs_to_mask(runs: Runs, height: int, width: int) -> np.ndarray:
    """bool ``[height, width]`` (Fortran-ordered) with the pixels of ``runs`` set."""
    counts = _alternating_counts(runs, height * width)
    values = np.zeros(counts.size, dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(width, height).T


def encode(mask: np.ndarray) -> str:
    """Kaggle RLE string of a 2-D mask ``[H, W]`` (non-zero is foreground); ``''`` for an empty mask."""
    return format_runs(runs_from_mask(mask))


def decode(rle: str, height: int, width: int) -> np.ndarray:
    """Mask ``bool [height, width]`` (Fortran-ordered) of a Kaggle RLE string; strict, see :func:`parse_runs`."""
    return runs_to_mask(parse_runs(rle, height, width), height, width)


# ------------------------------------------------------------------------------------------------------------ resize


def resize_runs(runs: Runs, height: int, width: int, out_height: int, out_width: int) -> Runs:
    """Nearest-neighbour resize of a ``height`` x ``width`` mask given as runs, without decoding it.

    Uses the sampling rule of :mod:`fashion_seg.data.mask_geometry`, so the result equals
    ``runs_from_mask(resize_masks(runs_to_mask(...), out_height, out_width))``. The sampled source pixels, taken in
    column-major order, have ascending source positions; each source run covers a contiguous range of them, whose
    ends are counted by binary search in the sampled rows and columns. Cost: O(K log(out_height + out_width)) for K
    runs, independent of the image size; nothing of the mask's size is allocated.
    """
    if (height, width) == (out_height, out_width) or runs.starts.size == 0:
        return runs
    rows, source_cols, first_out_col, repeats = _sampling(height, width, out_height, out_width)

    def sampled_before(positions: np.ndarray) -> np.ndarray:
        """How many sampled pixels lie before each column-major source position."""
        col, row = np.divmod(positions, height)
        before = np.searchsorted(source_cols, col, side="left")
        sampled_col = source_cols[np.minimum(before, source_cols.size - 1)] == col
        return before * out_height + np.where(sampled_col, np.searchsorted(rows, row, side="left"), 0)

    out_starts = sampled_before(runs.starts)
    out_ends = sampled_before(runs.starts + runs.lengths)
    keep = out_ends > out_starts
    out_starts, out_ends = out_starts[keep], out_ends[keep]
    if repeats.max() > 1:
        out_starts, out_ends = _repeat_columns(out_starts, out_ends, out_height, first_out_col, repeats)
    return _merge_touching(out_starts, out_ends)


@functools.lru_cache(maxsize=256)
def _sampling(height: int, width: int, out_height: int, out_width: int) -> tuple[np.ndarray, ...]:
    """Sampled source rows, distinct sampled source columns, the first output column of each, and its repeat count.

    Enlarging the width repeats source columns, which would break the ascending order of sampled positions, so the
    resize works on the distinct columns and copies each resulting column as often as the output repeats it.
    Cached: a dataset has few distinct (size, output size) pairs, and scoring resizes every mask of an image alike.
    """
    rows = nearest_indices(height, out_height)
    cols = nearest_indices(width, out_width)  # ascending
    first_out_col = np.flatnonzero(np.concatenate(([True], cols[1:] != cols[:-1])))
    out = rows, cols[first_out_col], first_out_col, np.diff(np.append(first_out_col, out_width))
    for array in out:
        array.setflags(write=False)
    return out


def _repeat_columns(
    starts: np.ndarray, ends: np.ndarray, height: int, first_out_col: np.ndarray, repeats: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Runs on a grid of distinct columns -> runs on the output grid where column j appears ``repeats[j]`` times."""
    # split every run into one segment per column it touches
    first_col = starts // height
    last_col = (ends - 1) // height
    per_run = last_col - first_col + 1
    run_of_segment = np.repeat(np.arange(starts.size), per_run)
    segment_rank = np.arange(run_of_segment.size) - np.repeat(np.cumsum(per_run) - per_run, per_run)
    col = first_col[run_of_segment] + segment_rank
    top = np.where(segment_rank == 0, starts[run_of_segment] - col * height, 0)
    bottom = np.where(col == last_col[run_of_segment], ends[run_of_segment] - col * height, height)
    # copy every segment into each output column that repeats its source column
    copies = repeats[col]
    segment_of_copy = np.repeat(np.arange(col.size), copies)
    copy_rank = np.arange(segment_of_copy.size) - np.repeat(np.cumsum(copies) - copies, copies)
    out_col = first_out_col[col[segment_of_copy]] + copy_rank
    new_starts = out_col * height + top[segment_of_copy]
    new_ends = out_col * height + bottom[segment_of_copy]
    order = np.argsort(new_starts, kind="stable")
    return new_starts[order], new_ends[order]


def _merge_touching(starts: np.ndarray, ends: np.ndarray) -> Runs:
    """Canonical runs from sorted, non-overlapping [start, end) ranges: ranges that touch become one run."""
    if starts.size > 1:
        new_run = np.ones(starts.size, dtype=bool)
        new_run[1:] = starts[1:] != ends[:-1]
        first = np.flatnonzero(new_run)
        last = np.append(first[1:], starts.size) - 1
        starts, ends = starts[first], ends[last]
    return Runs(starts.astype(np.int64), (ends - starts).astype(np.int64))


def resize(rle: str, height: int, width: int, out_height: int, out_width: int) -> str:
    """Kaggle RLE of a ``height`` x ``width`` mask resized (nearest neighbour) to ``out_height`` x ``out_width``."""
    return format_runs(resize_runs(parse_runs(rle, height, width), height, width, out_height, out_width))


# ------------------------------------------------------------------------------------------------------- pycocotools


def runs_to_coco(runs: Runs, height: int, width: int) -> dict:
    """pycocotools RLE ``{'size': [height, width], 'counts': bytes}`` (compressed) of ``runs``."""
    counts = _alternating_counts(runs, height * width)
    # pycocotools counts alternate background/foreground starting with background; a zero final run is dropped
    if counts.size > 1 and counts[-1] == 0:
        counts = counts[:-1]
    return coco_mask.frPyObjects({"size": [int(height), int(width)], "counts": counts.tolist()}, height, width)


def _coco_counts(counts: bytes | str) -> np.ndarray:
    """Uncompressed counts of a compressed pycocotools ``counts`` string (its documented LEB128-like format)."""
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return np.zeros(0, np.int64)
    # each value is little-endian groups of 5 bits; bit 0x20 says "another group follows"; 0x10 in the last is the sign
    last_group = (chars & 0x20) == 0
    value_id = np.concatenate(([0], np.cumsum(last_group)[:-1]))
    value_starts = np.flatnonzero(np.concatenate(([True], last_group[:-1])))
    group_index = np.arange(chars.size) - value_starts[value_id]
    values = np.zeros(value_starts.size, dtype=np.int64)
    np.add.at(values, value_id, (chars & 0x1F) << (5 * group_index))
    terminal = chars[last_group]
    groups = np.bincount(value_id)
    negative = (terminal & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * groups[negative])
    # from the fourth value on, each is stored as a difference to the value two places before
    counts_out = values.copy()
    counts_out[1::2] = np.cumsum(values[1::2])
    counts_out[2::2] = np.cumsum(values[2::2])
    return counts_out


def runs_from_coco(rle: dict) -> tuple[Runs, int, int]:
    """(runs, height, width) of a pycocotools RLE, compressed (``bytes``/``str`` counts) or uncompressed (list)."""
    try:
        height, width = (int(v) for v in rle["size"])
        raw = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise RLEError(f"not a pycocotools RLE (needs 'size' [h, w] and 'counts'): {rle!r:.80}") from None
    counts = _coco_counts(raw) if isinstance(raw, (bytes, str)) else np.asarray(raw, dtype=np.int64)
    if counts.size and counts.min() < 0:
        raise RLEError(f"pycocotools RLE has a negative count {counts.min()}")
    if counts.sum() != height * width:
        raise RLEError(f"pycocotools RLE counts sum to {counts.sum()}, not to {height}x{width} = {height * width}")
    boundaries = np.cumsum(counts)
    starts = boundaries[0::2][: counts.size // 2]
    lengths = counts[1::2]
    keep = lengths > 0
    return _merge_touching(starts[keep], starts[keep] + lengths[keep]), height, width


def to_coco(rle: str, height: int, width: int) -> dict:
    """pycocotools RLE (compressed) of a Kaggle RLE string."""
    return runs_to_coco(parse_runs(rle, height, width), height, width)


def from_coco(rle: dict) -> str:
    """Kaggle RLE string of a pycocotools RLE (compressed or uncompressed)."""
    runs, _, _ = runs_from_coco(rle)
    return format_runs(runs)
