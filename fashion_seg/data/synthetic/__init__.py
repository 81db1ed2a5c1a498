"""A small synthetic dataset in the exact competition layout, for the demo and the tests.

``make_demo_dataset(out)`` writes::

    out/train/<32 hex>.jpg        JPEGs of varied sizes and aspect ratios (one grayscale, one ~3000 px long side)
    out/test/<32 hex>.jpg
    out/train.csv                 2019 format: ImageId,EncodedPixels,Height,Width,ClassId (dresses/skirts/pants
                                  carry attributes, e.g. 10_3_14_20)
    out/label_descriptions.json   the real 2019 file
    out/sample_submission.csv     ImageId,EncodedPixels,ClassId: one placeholder row per test image
    out/test_truth.csv            the test images' masks, train.csv format (Height/Width: scorable at 512 or native)

Scenes: one to three standing figures side by side on a textured background. Each figure wears garments drawn from a
fixed repertoire; every category has its own shape, colour and texture (pants: dark blue with vertical stripes,
dress: red with dots, ...), so a small Mask R-CNN can learn them quickly. Garment parts (sleeves, collars, necklines,
pockets, lapels, zippers) lie inside their garment's mask, as in the real data (cross-class overlap); a garment drawn
over another (a bag over a coat) removes the covered pixels from the masks below, so masks of one class never
overlap. Everything is deterministic in ``seed``.

Every attribute follows from what is drawn, so that a model can see it:

- length (dress: mini, knee, maxi; skirt: mini, knee): the line its hem's lowest point is drawn at,
  :data:`HEM_LINES` (a fraction of the figure's height: mini above the knee, knee at the knee, maxi at the ankle);
- zip-up (dress): a zipper instance is drawn from its neckline to its waist; a dress without it has no zipper;
- symmetrical / asymmetrical (dress, skirt): the shape is mirror-symmetric about the figure's axis, or the hem
  slants from the mini line on one side to the knee line on the other (an asymmetrical skirt, knee length);
- straight / wide leg (pants, every pair carries one): a straight leg's outer edge falls nearly vertically from the
  hip; a wide leg widens from the hip to twice a straight leg's width at the ankle (:data:`ANKLE_WIDTHS`).

A coat is worn over pants, whose legs show below it. Shorts, tops, jackets, coats and the accessories carry no
attributes.

Modules: :mod:`.repertoire` (ids, lines, colours), :mod:`.painting` (painting and visible masks), :mod:`.garments`
(a figure and its outfit), :mod:`.scenes` (a whole demo scene), :mod:`.crowded` (harder scenes: crowds, clutter,
small parts), :mod:`.writer` (a dataset of scenes on disk), :mod:`.perturbation` (an imperfect submission from the
truth).
"""

from .crowded import make_crowded_dataset, render_crowded_scene
from .garments import Figure, draw_dress, draw_figure, draw_pants, draw_skirt
from .painting import Canvas, SceneInstance
from .perturbation import perturb_truth
from .repertoire import (ANKLE_WIDTHS, ASYMMETRICAL, BAG, BELT, COAT, COLLAR, DRESS, GLASSES, HAT, HEM_LINES, JACKET,
                         KNEE, LAPEL, MAXI, MINI, NECKLINE, PANTS, POCKET, SHIRT, SHOE, SHORTS, SKIN, SKIRT, SLEEVE,
                         STRAIGHT, STYLE, SWEATER, SYMMETRICAL, TOP, WIDE_LEG, ZIP_UP, ZIPPER)
from .scenes import render_scene
from .writer import DemoDataset, make_demo_dataset, write_scene_dataset
