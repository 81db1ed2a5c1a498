"""Overlays and panels: masks coloured where they are and nowhere else; charts are PNG files."""

import numpy as np

from fashion_seg import plots, visualize


def test_overlay_colours_only_the_masked_pixels():
    image = np.full((60, 80, 3), 100, np.uint8)
    masks = np.zeros((60, 80, 2), bool)
    masks[30:50, 5:25, 0] = True
    masks[30:50, 50:70, 1] = True
    labels = ["shoe", "bag"]
    out = visualize.overlay_masks(image, masks, labels, alpha=0.5, colors=[(255, 0, 0), (0, 0, 255)])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert tuple(out[45, 15]) == (177, 50, 50)  # half image, half red
    assert tuple(out[45, 60]) == (50, 50, 177)

    drawn = masks.any(axis=-1)
    for index, label in enumerate(labels):
        x1, y1, x2, y2 = visualize.label_box(image.shape, masks[:, :, index], label)
        assert y2 >= 30 > y1 and x1 == [5, 50][index] and x2 > x1  # above the mask's top-left corner
        label_pixels = out[y1 : y2 + 1, x1 : x2 + 1]
        assert (label_pixels != 100).any(axis=-1).mean() > 0.9  # filled: the box colour, or black text
        drawn[max(0, y1) : y2 + 1, x1 : x2 + 1] = True
    assert (out[~drawn] == 100).all()  # outside every mask and label box: untouched


def test_a_label_near_the_image_edge_stays_inside_it():
    image = np.full((40, 30, 3), 100, np.uint8)
    masks = np.zeros((40, 30, 1), bool)
    masks[0:3, 25:30, 0] = True
    out = visualize.overlay_masks(image, masks, ["a long label"], colors=[(0, 255, 0)])
    x1, y1, x2, y2 = visualize.label_box(image.shape, masks[:, :, 0], "a long label")
    assert x1 == 0 and y1 == 0  # pushed left and down into the image
    drawn = masks[:, :, 0].copy()
    drawn[y1 : y2 + 1, x1 : x2 + 1] = True
    assert (out[~drawn] == 100).all() and (out[drawn] != 100).any(axis=-1).mean() > 0.9


def test_masks_of_another_size_are_resized_to_the_image():
    image = np.zeros((100, 100, 3), np.uint8)
    masks = np.zeros((10, 10, 1), bool)
    masks[5:, 5:, 0] = True
    out = visualize.overlay_masks(image, masks, ["x"], colors=[(0, 255, 0)])
    assert out[75, 75, 1] > 0 and out[75, 75, 0] == 0 and out[25, 75].sum() == 0


def test_panels_and_colours():
    image = np.zeros((40, 30, 3), np.uint8)
    masks = np.ones((40, 30, 1), bool)
    panel = visualize.truth_vs_prediction(image, masks, ["1"], masks[:, :, :0], [], "img")
    assert panel.shape[1] == 3 * 30 + 2 * 8 and panel.shape[0] > 40
    assert visualize.colours(5) == visualize.colours(5) and len(set(visualize.colours(5))) == 5


def test_charts_are_written_as_png(tmp_path):
    paths = [
        plots.bar_chart(["a", "b"], [3, 1], tmp_path / "bars.png", "title", log_scale=True),
        plots.histogram([1, 2, 2, 3], tmp_path / "hist.png", "title", "x"),
        plots.scatter([1, 2], [3, 4], tmp_path / "scatter.png", "title", "x", "y"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.png", "hist.png", "scatter.png"]
