"""Charts as PNG files, drawn headless (matplotlib's Agg canvas, no pyplot state, no display needed).

Every function draws one chart and writes it atomically to ``path``; returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .atomic import atomic_path


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG, atomically."""
    FigureCanvasAgg(figure)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=dpi, format="png")
    return Path(path)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], path: str | os.PathLike, title: str, value_label: str = "",
    log_scale: bool = False,
) -> Path:
    """Horizontal bars, one per label, top to bottom in the given order (long category names stay readable)."""
    height = max(3.0, 0.22 * len(labels) + 1.2)
    figure = Figure(figsize=(8, height))
    axes = figure.add_subplot()
    positions = np.arange(len(labels))
    axes.barh(positions, values, color="#4c72b0")
    axes.set_yticks(positions, labels, fontsize=7)
    axes.invert_yaxis()
    if log_scale:
        axes.set_xscale("log")
        axes.set_xlim(left=0.8)  # bars start at 0, which a log axis cannot show: start just below 1
    axes.set_xlabel(value_label)
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    return save_figure(figure, path)


def histogram(
    values: Sequence[float], path: str | os.PathLike, title: str, value_label: str, bins: int | Sequence[float] = 30
) -> Path:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    axes.hist(np.asarray(values), bins=bins, color="#55a868", edgecolor="white")
    axes.set_xlabel(value_label)
    axes.set_ylabel("count")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def scatter(
    x: Sequence[float], y: Sequence[float], path: str | os.PathLike, title: str, x_label: str, y_label: str
) -> Path:
    figure = Figure(figsize=(6, 6))
    axes = figure.add_subplot()
    axes.scatter(x, y, s=6, alpha=0.5, color="#c44e52", linewidths=0)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


LOSS_PANELS = (
    ("loss", "total loss"), ("rpn_class_loss", "RPN class"), ("rpn_bbox_loss", "RPN box"),
    ("mrcnn_class_loss", "head class"), ("mrcnn_bbox_loss", "head box"), ("mrcnn_mask_loss", "mask"),
    ("mrcnn_attr_loss", "attributes"),
)


def loss_curves(history, path: str | os.PathLike, title: str = "") -> Path:
    """Training curves of a run's history (a ``history.csv`` frame, see :mod:`fashion_seg.trainer.history`): one
    panel per loss (training and validation; the attribute loss only when the history has it), one for the
    validation metric and one for the learning rate; dashed lines where a new stage starts."""
    panels = [(column, label) for column, label in LOSS_PANELS
              if column != "mrcnn_attr_loss" or (column in history and history[column].notna().any())]
    columns = (len(panels) + 3) // 2
    figure = Figure(figsize=(3.25 * columns, 6.5))
    axes = figure.subplots(2, columns).ravel()
    metric_axes, rate_axes = axes[len(panels)], axes[len(panels) + 1]
    for ax in axes[len(panels) + 2:]:
        ax.set_visible(False)
    epochs = np.asarray(history["epoch"], dtype=float)
    stage = np.asarray(history["stage"], dtype=float)
    stage_starts = epochs[1:][np.diff(stage) != 0] - 0.5 if len(stage) > 1 else []
    for ax, (column, label) in zip(axes, panels):
        ax.plot(epochs, history[column], marker=".", color="#4c72b0", label="train")
        if history[f"val_{column}"].notna().any():
            ax.plot(epochs, history[f"val_{column}"], marker=".", color="#dd8452", label="validation")
        ax.set_title(label)
    metric = history["val_metric"].notna()
    if metric.any():
        metric_axes.plot(epochs[metric.to_numpy()], history["val_metric"][metric], marker="o", color="#55a868")
    metric_axes.set_title("validation metric")
    rate_axes.plot(epochs, history["learning_rate"], marker=".", color="#8172b3")
    rate_axes.set_yscale("log")
    rate_axes.set_title("learning rate")
    for ax in axes:
        for start in stage_starts:
            ax.axvline(start, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
