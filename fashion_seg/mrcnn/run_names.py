"""How training runs and their checkpoints are named on disk, matterport's way but to the second.

A run directory is ``<name><YYYYMMDDTHHMMSS>`` under the model directory and holds ``mask_rcnn_<name>_<epoch:04d>.h5``
(epochs from 1). matterport stamps runs to the minute (``<name><YYYYMMDDTHHMM>``), so two runs started in the same
minute shared a directory; those names are still read, and order with the new ones by time.
"""

from __future__ import annotations

import datetime
import re

RUN_DIR = re.compile(r"^(?P<name>.+?)(?P<stamp>\d{8}T\d{4}(?:\d{2})?)$")
CHECKPOINT = re.compile(
    r".*[/\\](?P<name>[\w-]+?)(?P<stamp>\d{8}T\d{4}(?:\d{2})?)[/\\]mask_rcnn_[\w-]+?_(?P<epoch>\d{4})\.h5$"
)


def run_stamp(now: datetime.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSS`` of ``now`` (default: the current local time)."""
    return f"{now or datetime.datetime.now():%Y%m%dT%H%M%S}"


def stamp_order(stamp: str) -> str:
    """A sort key that orders minute stamps (matterport's) and second stamps (ours) by time."""
    return stamp.ljust(15, "0")
