"""A standing figure and the garments it wears (:func:`draw_figure` picks a random outfit); every attribute a
garment carries follows from how it is drawn (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .painting import Canvas
from .repertoire import (ANKLE_WIDTHS, ASYMMETRICAL, BAG, BELT, COAT, COLLAR, DRESS, GLASSES, HAT, HEM_LINES, JACKET, KNEE, LAPEL, MAXI, MINI, NECKLINE, PANTS, POCKET, SHIRT, SHOE, SHORTS, SKIN, SKIRT, SLEEVE, STRAIGHT, SWEATER, SYMMETRICAL, TOP, WIDE_LEG, ZIPPER, ZIP_UP)


@dataclass(frozen=True)
class Figure:
    """Where one standing figure stands: its box (image pixels, ``top`` down) and the lines garments follow."""

    left: float
    top: float
    width: float
    height: float
    shoulder: float  # half the shoulder width in pixels

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    def line(self, fraction: float) -> float:
        """The image row ``fraction`` of the figure's height below its top."""
        return self.top + fraction * self.height

    @property
    def neck_y(self) -> float:
        return self.line(0.14)

    @property
    def waist_y(self) -> float:
        return self.line(0.48)

    @property
    def hip_y(self) -> float:
        return self.line(0.54)

    @property
    def knee_y(self) -> float:
        return self.line(0.73)

    @property
    def ankle_y(self) -> float:
        return self.line(0.93)

    @property
    def waist(self) -> float:
        return 0.27 * self.width


def draw_figure(canvas: Canvas, left: float, top: float, width: float, height: float) -> None:
    """Draw one standing figure in the box (left, top, width, height) with a random outfit."""
    rng = canvas.rng
    figure = Figure(left, top, width, height, shoulder=0.36 * width * rng.uniform(0.9, 1.1))
    cx, neck_y, waist_y, hip_y, ankle_y = figure.cx, figure.neck_y, figure.waist_y, figure.hip_y, figure.ankle_y
    shoulder, waist, head_r = figure.shoulder, figure.waist, 0.065 * height

    # skin: head, arms and legs, unannotated like in the real data
    head = canvas.ellipse_mask((cx, top + head_r), (head_r * 0.8, head_r))
    canvas.paint(head, SKIN, "plain")
    for side in (-1, 1):
        arm = np.array([[cx + side * shoulder, neck_y + 0.02 * height], [cx + side * (shoulder + 0.12 * width),
                        neck_y + 0.35 * height], [cx + side * (shoulder + 0.04 * width), neck_y + 0.36 * height],
                        [cx + side * (shoulder - 0.08 * width), neck_y + 0.05 * height]])
        canvas.paint(canvas.polygon_mask([arm]), SKIN, "plain")
        leg = np.array([[cx + side * 0.04 * width, hip_y], [cx + side * 0.2 * width, hip_y],
                        [cx + side * 0.17 * width, ankle_y], [cx + side * 0.07 * width, ankle_y]])
        canvas.paint(canvas.polygon_mask([leg]), SKIN, "plain")

    outfit = rng.choice(["separates", "separates", "dress", "coat"])
    if outfit == "dress":
        draw_dress(canvas, figure, length=rng.choice([MINI, KNEE, MAXI]), zip_up=rng.random() < 0.4)
        _shoes(canvas, cx, ankle_y, width, height)
    else:
        # under a knee-long coat only pants show their silhouette below it (a skirt's hem would be hidden)
        lower = PANTS if outfit == "coat" else rng.choice([PANTS, SHORTS, SKIRT])
        if lower == SKIRT:
            asymmetric = rng.random() < 0.25
            draw_skirt(canvas, figure, length=KNEE if asymmetric else rng.choice([MINI, KNEE]),
                       asymmetric=asymmetric)
        elif lower == PANTS:
            draw_pants(canvas, figure, rng.choice([STRAIGHT, WIDE_LEG]), pockets=rng.random() < 0.5)
        else:
            end_y = figure.line(0.66)
            legs = [np.array([[cx - waist, waist_y], [cx, waist_y], [cx - 0.02 * width, hip_y],
                              [cx - 0.05 * width, end_y], [cx - 0.24 * width, end_y]]),
                    np.array([[cx, waist_y], [cx + waist, waist_y], [cx + 0.24 * width, end_y],
                              [cx + 0.05 * width, end_y], [cx + 0.02 * width, hip_y]])]
            canvas.add(SHORTS, canvas.polygon_mask(legs))
        _shoes(canvas, cx, ankle_y, width, height)
        if outfit == "coat":
            _coat(canvas, cx, neck_y, figure.knee_y, shoulder, waist, width, height)
        else:
            upper = rng.choice([SHIRT, TOP, SWEATER, JACKET])
            long_sleeves = upper in (SHIRT, SWEATER, JACKET)
            torso = _torso(cx, neck_y, waist_y + 0.04 * height, shoulder, waist)
            sleeves = _sleeves(cx, neck_y, shoulder, width, height, long=long_sleeves)
            garment = canvas.add(upper, canvas.polygon_mask([torso, *sleeves]))
            _add_sleeves(canvas, garment, sleeves)
            if upper == SHIRT:
                for side in (-1, 1):
                    collar = np.array([[cx, neck_y + 0.05 * height], [cx + side * 0.16 * width, neck_y],
                                       [cx + side * 0.14 * width, neck_y + 0.06 * height]])
                    canvas.add(COLLAR, canvas.polygon_mask([collar]), parent=garment)
            elif upper == JACKET:
                for side in (-1, 1):
                    lapel = np.array([[cx, neck_y + 0.16 * height], [cx + side * 0.13 * width, neck_y],
                                      [cx + side * 0.17 * width, neck_y + 0.02 * height],
                                      [cx + side * 0.05 * width, neck_y + 0.16 * height]])
                    canvas.add(LAPEL, canvas.polygon_mask([lapel]), parent=garment)
                    pocket = np.array([[cx + side * 0.1 * width, waist_y - 0.04 * height],
                                       [cx + side * 0.24 * width, waist_y - 0.04 * height],
                                       [cx + side * 0.24 * width, waist_y + 0.01 * height],
                                       [cx + side * 0.1 * width, waist_y + 0.01 * height]])
                    canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=garment)
            else:
                _neckline(canvas, garment, cx, neck_y, width, height)
            if lower in (PANTS, SHORTS) and rng.random() < 0.5:
                belt = np.array([[cx - waist, waist_y + 0.04 * height], [cx + waist, waist_y + 0.04 * height],
                                 [cx + waist, waist_y + 0.065 * height], [cx - waist, waist_y + 0.065 * height]])
                canvas.add(BELT, canvas.polygon_mask([belt]))
    if rng.random() < 0.45:
        side = rng.choice([-1, 1])
        bag_x = cx + side * (shoulder + 0.1 * width)
        bag = np.array([[bag_x - 0.13 * width, waist_y], [bag_x + 0.13 * width, waist_y],
                        [bag_x + 0.15 * width, waist_y + 0.16 * height], [bag_x - 0.15 * width, waist_y + 0.16 * height]])
        canvas.add(BAG, canvas.polygon_mask([bag]))
    if rng.random() < 0.4:
        brim = canvas.ellipse_mask((cx, top + 0.45 * head_r), (head_r * 1.5, head_r * 0.25))
        crown = canvas.ellipse_mask((cx, top + 0.2 * head_r), (head_r * 0.8, head_r * 0.45))
        canvas.add(HAT, brim | crown)
    if rng.random() < 0.35:
        eyes = [canvas.ellipse_mask((cx + side * 0.35 * head_r, top + 1.0 * head_r), (head_r * 0.28, head_r * 0.2))
                for side in (-1, 1)]
        bridge = canvas.polygon_mask([np.array([[cx - 0.1 * head_r, top + 0.95 * head_r],
                                                [cx + 0.1 * head_r, top + 0.95 * head_r],
                                                [cx + 0.1 * head_r, top + 1.02 * head_r],
                                                [cx - 0.1 * head_r, top + 1.02 * head_r]])])
        canvas.add(GLASSES, eyes[0] | eyes[1] | bridge)


def draw_dress(canvas: Canvas, figure: Figure, length: int, zip_up: bool) -> int:
    """A symmetrical short-sleeved dress whose hem lies on ``HEM_LINES[length]``, with its neckline and sleeves,
    and a zipper from the neckline to the waist when ``zip_up``. Returns the dress's instance index."""
    cx, width, height = figure.cx, figure.width, figure.height
    hem_y = figure.line(HEM_LINES[length])
    torso = _torso(cx, figure.neck_y, figure.waist_y, figure.shoulder, figure.waist)
    skirt = np.array([[cx - figure.waist, figure.waist_y], [cx + figure.waist, figure.waist_y],
                      [cx + 0.45 * width, hem_y], [cx - 0.45 * width, hem_y]])
    sleeves = _sleeves(cx, figure.neck_y, figure.shoulder, width, height, long=False)
    attributes = [length, SYMMETRICAL] + ([ZIP_UP] if zip_up else [])
    dress = canvas.add(DRESS, canvas.polygon_mask([torso, skirt, *sleeves]), attributes)
    _neckline(canvas, dress, cx, figure.neck_y, width, height)
    _add_sleeves(canvas, dress, sleeves)
    if zip_up:
        _zipper(canvas, dress, cx, figure.neck_y, figure.waist_y, width)
    return dress


def draw_skirt(canvas: Canvas, figure: Figure, length: int, asymmetric: bool) -> int:
    """A skirt from the waist to ``HEM_LINES[length]``; ``asymmetric``: the hem slants from the mini line on one
    side (chosen by ``canvas.rng``) to the knee line on the other, so its length must be ``KNEE``. Returns its
    instance index."""
    if asymmetric and length != KNEE:
        raise ValueError(f"an asymmetrical skirt reaches the knee line; length {length} is not KNEE ({KNEE})")
    cx, width = figure.cx, figure.width
    left_hem = right_hem = figure.line(HEM_LINES[length])
    if asymmetric:
        left_hem = figure.line(HEM_LINES[MINI])
        if canvas.rng.random() < 0.5:
            left_hem, right_hem = right_hem, left_hem
    shape = np.array([[cx - figure.waist, figure.waist_y], [cx + figure.waist, figure.waist_y],
                      [cx + 0.42 * width, right_hem], [cx - 0.42 * width, left_hem]])
    return canvas.add(SKIRT, canvas.polygon_mask([shape]), [length, ASYMMETRICAL if asymmetric else SYMMETRICAL])


def draw_pants(canvas: Canvas, figure: Figure, silhouette: int, pockets: bool) -> int:
    """Pants to the ankle, each leg ``ANKLE_WIDTHS[silhouette]`` wide there (``STRAIGHT``: outer edge nearly
    vertical from the hip down; ``WIDE_LEG``: widening from the hip to twice that), with two front pockets when
    ``pockets``. Returns the pants' instance index."""
    cx, width, height = figure.cx, figure.width, figure.height
    waist_y, hip_y, end_y = figure.waist_y, figure.hip_y, figure.ankle_y
    inner = {STRAIGHT: 0.06, WIDE_LEG: 0.015}[silhouette]
    outer = inner + ANKLE_WIDTHS[silhouette]
    legs = [np.array([[cx + side * figure.waist, waist_y], [cx, waist_y], [cx + side * 0.02 * width, hip_y],
                      [cx + side * inner * width, end_y], [cx + side * outer * width, end_y],
                      [cx + side * 0.22 * width, hip_y]])
            for side in (-1, 1)]
    pants = canvas.add(PANTS, canvas.polygon_mask(legs), [silhouette])
    if pockets:
        for side in (-1, 1):
            pocket = np.array([[cx + side * 0.07 * width, waist_y + 0.03 * height],
                               [cx + side * 0.2 * width, waist_y + 0.03 * height],
                               [cx + side * 0.19 * width, waist_y + 0.09 * height],
                               [cx + side * 0.08 * width, waist_y + 0.09 * height]])
            canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=pants)
    return pants


def _torso(cx, neck_y, bottom_y, shoulder, waist) -> np.ndarray:
    return np.array([[cx - shoulder, neck_y], [cx + shoulder, neck_y],
                     [cx + waist, bottom_y], [cx - waist, bottom_y]])


def _sleeves(cx, neck_y, shoulder, width, height, long: bool) -> list[np.ndarray]:
    reach = 0.34 * height if long else 0.14 * height
    out = 0.12 * width if long else 0.07 * width
    return [np.array([[cx + side * (shoulder - 0.1 * width), neck_y], [cx + side * shoulder, neck_y],
                      [cx + side * (shoulder + out + 0.03 * width), neck_y + reach],
                      [cx + side * (shoulder + out - 0.07 * width), neck_y + reach + 0.01 * height],
                      [cx + side * (shoulder - 0.09 * width), neck_y + 0.1 * height]])
            for side in (-1, 1)]


def _add_sleeves(canvas: Canvas, garment: int, sleeves: list[np.ndarray]) -> None:
    for sleeve in sleeves:
        canvas.add(SLEEVE, canvas.polygon_mask([sleeve]), parent=garment)


def _neckline(canvas: Canvas, garment: int, cx, neck_y, width, height) -> None:
    neckline = canvas.ellipse_mask((cx, neck_y), (0.12 * width, 0.035 * height))
    canvas.add(NECKLINE, neckline, parent=garment)


def _zipper(canvas: Canvas, garment: int, cx, top_y, bottom_y, width) -> None:
    zipper = np.array([[cx - 0.015 * width, top_y + 0.02 * (bottom_y - top_y)], [cx + 0.015 * width, top_y],
                       [cx + 0.015 * width, bottom_y], [cx - 0.015 * width, bottom_y]])
    canvas.add(ZIPPER, canvas.polygon_mask([zipper]), parent=garment)


def _shoes(canvas: Canvas, cx, ankle_y, width, height) -> None:
    for side in (-1, 1):
        shoe = canvas.ellipse_mask((cx + side * 0.13 * width, ankle_y + 0.025 * height), (0.11 * width, 0.03 * height))
        canvas.add(SHOE, shoe)


def _coat(canvas: Canvas, cx, neck_y, hem_y, shoulder, waist, width, height) -> None:
    body = np.array([[cx - shoulder, neck_y], [cx + shoulder, neck_y], [cx + 0.38 * width, hem_y],
                     [cx - 0.38 * width, hem_y]])
    sleeves = _sleeves(cx, neck_y, shoulder, width, height, long=True)
    coat = canvas.add(COAT, canvas.polygon_mask([body, *sleeves]))
    _add_sleeves(canvas, coat, sleeves)
    for side in (-1, 1):
        pocket = np.array([[cx + side * 0.12 * width, neck_y + 0.3 * height],
                           [cx + side * 0.28 * width, neck_y + 0.3 * height],
                           [cx + side * 0.29 * width, neck_y + 0.37 * height],
                           [cx + side * 0.13 * width, neck_y + 0.37 * height]])
        canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=coat)
