"""Kaggle RLE encode/decode speed of fashion_seg.data.rle against pycocotools (C) and a plain per-run Python loop.

    python benchmarks/bench_rle.py [--repeats 20]

Masks are garment-like blobs (overlapping rotated ellipses and a polygon, ~20% of the image) at the sizes of the
competition's images. Timings are the median of ``--repeats`` runs, in milliseconds per mask.

- encode: ours ``rle.encode(mask)`` (C-ordered bool mask -> Kaggle string) against
  ``pycocotools.mask.encode(np.asfortranarray(mask))`` (it needs a Fortran-ordered uint8 copy, counted here) and a
  plain loop that flattens column-major and builds the string run by run in Python.
- decode: ours ``rle.decode(string, h, w)`` (string -> bool mask, strict validation included) against
  ``pycocotools.mask.decode(its compressed RLE)`` and a plain loop that sets ``flat[start:start + length]`` per run.
Ratios > 1 mean ours is faster.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pycocotools.mask as coco_mask

from fashion_seg.data import rle
from timing import median_ms

SIZES = [(512, 512), (1024, 1024), (3000, 2000), (5000, 3500)]


def garment_mask(height: int, width: int, seed: int = 0) -> np.ndarray:
    """bool [height, width] (C order): a torso ellipse, two sleeve ellipses and a skirt polygon."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width), np.uint8)
    cy, cx = height // 2, width // 2
    cv2.ellipse(canvas, (cx, cy), (width // 6, height // 5), float(rng.uniform(-10, 10)), 0, 360, 1, -1)
    for side in (-1, 1):
        centre = (cx + side * width // 5, cy - height // 12)
        cv2.ellipse(canvas, centre, (width // 14, height // 6), side * 30.0, 0, 360, 1, -1)
    skirt = np.array(
        [[cx - width // 7, cy + height // 8], [cx + width // 7, cy + height // 8],
         [cx + width // 4, height - height // 10], [cx - width // 4, height - height // 10]], np.int32
    )
    cv2.fillPoly(canvas, [skirt], 1)
    return canvas.astype(bool)


def plain_encode(mask: np.ndarray) -> str:
    flat = np.concatenate([[False], mask.T.reshape(-1), [False]])
    changes = np.flatnonzero(flat[1:] != flat[:-1])
    parts = []
    for start, end in zip(changes[0::2], changes[1::2]):
        parts.append(f"{start + 1} {end - start}")
    return " ".join(parts)


def plain_decode(string: str, height: int, width: int) -> np.ndarray:
    flat = np.zeros(height * width, dtype=bool)
    values = string.split()
    for start, length in zip(values[0::2], values[1::2]):
        begin = int(start) - 1
        flat[begin : begin + int(length)] = True
    return flat.reshape(width, height).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    header = f"{'size (HxW)':>12} {'op':>6} {'ours ms':>9} {'pycoco ms':>10} {'loop ms':>9} {'vs pycoco':>10} {'vs loop':>8}"
    print(header)
    print("-" * len(header))
    for height, width in SIZES:
        mask = garment_mask(height, width)
        string = rle.encode(mask)
        coco = coco_mask.encode(np.asfortranarray(mask.view(np.uint8)))
        assert string == plain_encode(mask) == rle.from_coco(coco)
        assert np.array_equal(rle.decode(string, height, width), coco_mask.decode(coco).astype(bool))

        rows = {
            "encode": (
                median_ms(lambda: rle.encode(mask), args.repeats),
                median_ms(lambda: coco_mask.encode(np.asfortranarray(mask.view(np.uint8))), args.repeats),
                median_ms(lambda: plain_encode(mask), args.repeats),
            ),
            "decode": (
                median_ms(lambda: rle.decode(string, height, width), args.repeats),
                median_ms(lambda: coco_mask.decode(coco), args.repeats),
                median_ms(lambda: plain_decode(string, height, width), args.repeats),
            ),
        }
        for op, (ours, pycoco, loop) in rows.items():
            print(
                f"{f'{height}x{width}':>12} {op:>6} {ours:9.2f} {pycoco:10.2f} {loop:9.2f} "
                f"{pycoco / ours:9.1f}x {loop / ours:7.1f}x"
            )


if __name__ == "__main__":
    main()
