"""Epochs of ``STEPS_PER_EPOCH`` batches (matterport's meaning of an epoch) over the passes of the input pipeline.

:class:`fashion_seg.data.pipeline.MaskRCNNBatches` makes one pass over the images per epoch. Training runs count
epochs in steps instead (the seed project's 1520 steps x 24 images), so :class:`StepsPerEpoch` lays the passes end to
end as one stream of batches and cuts it into epochs of ``steps``: batch ``i`` of epoch ``e`` is batch
``(e x steps + i) mod P`` of pass ``(e x steps + i) div P`` (``P`` batches per pass). Every image still comes once per
pass, each pass in its own seeded order, and a batch stays a pure function of ``(seed, epoch, i)``, so a resumed
run sees the batches it would have seen. Validation batches are the first ``steps`` of the (fixed) validation pass,
the same every epoch.

Which epoch is being trained comes from ``fit``'s own epoch counter, through the
:class:`~fashion_seg.mrcnn.train_batches.FollowEpochs` callback.
"""

from __future__ import annotations

import numpy as np

from ..data.pipeline import MaskRCNNBatches
from ..mrcnn.train_batches import EpochBatches


class StepsPerEpoch(EpochBatches):
    """``steps`` batches per epoch of ``passes`` (validation: at most one pass). workers / use_multiprocessing /
    max_queue_size: Keras's PyDataset options (the batches are built in those workers)."""

    def __init__(self, passes: MaskRCNNBatches, steps: int, *, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        training = passes.training
        super().__init__(int(steps) if training else min(int(steps), len(passes)), training, workers=workers,
                         use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.passes = passes

    def position(self, index: int, epoch: int | None = None) -> tuple[int, int]:
        """``(pass, batch in the pass)`` of batch ``index`` of ``epoch`` (default: the current one)."""
        if not self.training:
            return 0, index
        epoch = self.epoch if epoch is None else epoch
        return divmod(epoch * self.steps + index, len(self.passes))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} of {self.steps}")
        return self.passes.batch_at(*self.position(index))

    def image_references(self, index: int, epoch: int | None = None) -> list[str]:
        """What batch ``index`` of ``epoch`` is made of: the images' paths (train.csv lines for a dataset that
        names them), slot by slot."""
        ids = self.passes.batch_image_ids(*self.position(index, epoch))
        return [str(self.passes.dataset.image_reference(int(i))) for i in ids]

    @property
    def broken_images(self):
        """Broken-image reports of the underlying pipeline (:attr:`MaskRCNNBatches.broken_images`)."""
        return self.passes.broken_images

