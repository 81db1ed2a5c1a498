"""A training run's data: the train and validation datasets (from a split folder, or a split made now and saved with
the run), checked before the run directory exists, and the batches made of them."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .plan import TrainingPlan
from .runs import BROKEN_FILE, SPLIT_DIR


class RunData:
    """The run's train and validation datasets, from a split folder or a split made and saved with the run, and (set
    by an attribute-head run) the attribute table of the training images (``attributes``)."""

    def __init__(self, plan: TrainingPlan):
        from ..data.split import split_data_dir

        self.data_dir = Path(plan.data_dir)
        if not (self.data_dir / "train.csv").exists():
            raise DataError(f"{self.data_dir / 'train.csv'} not found: --data-dir must be a competition folder "
                            "(train.csv, train/, label_descriptions.json)")
        self.made_split = None
        if plan.split is None:  # split now (fails early on a bad train.csv); written once the run directory exists
            self.made_split = split_data_dir(self.data_dir, plan.val_fraction, plan.val_images, plan.seed)
        self._check_image_folder(plan)
        self.train = self.val = self.attributes = None

    def _check_image_folder(self, plan: TrainingPlan) -> None:
        """Refuse, before the run directory exists, an image folder that is missing or holds none of the split's
        images (a wrong ``--image-dir``); a few missing images are skipped and listed during training instead."""
        from ..data.train_csv import image_file_name
        from ..data.split import read_split

        folder = Path(plan.image_dir) if plan.image_dir else self.data_dir / "train"
        if not folder.is_dir():
            raise DataError(f"image folder {folder} does not exist (--image-dir, or the competition folder's train/)")
        train_ids, val_ids = self.made_split[:2] if self.made_split is not None else read_split(plan.split)
        ids = list(train_ids) + list(val_ids)
        if ids and not any((folder / image_file_name(i)).exists() for i in ids):
            raise DataError(f"none of the {len(ids)} images of the split is in {folder}, e.g. "
                            f"{image_file_name(ids[0])}: is it the right --image-dir?")

    def load(self, plan: TrainingPlan, run_dir: Path) -> TrainingPlan:
        """Load the datasets; a split made by this session is saved as ``run_dir/split``, which the returned plan
        names (so a resumed run trains on the same images)."""
        from ..data.split import load_split, write_split

        if self.made_split is not None:
            train_ids, val_ids, proportions = self.made_split
            write_split(run_dir / SPLIT_DIR, train_ids, val_ids, proportions)
            plan = plan.replace(split=str(run_dir / SPLIT_DIR))
        kwargs = {"image_dir": plan.image_dir} if plan.image_dir else {}
        self.train, self.val = load_split(plan.split, self.data_dir, **kwargs)
        if not self.train.image_ids.size or not self.val.image_ids.size:
            raise DataError(f"split {plan.split}: {len(self.train.image_ids)} training and {len(self.val.image_ids)} "
                            "validation images; both need at least one")
        return plan

    def validation_truth(self, count: int):
        """Paths, ImageIds and truth rows of the first ``count`` validation images."""
        from ..data.train_csv import read_train_csv

        infos = self.val.image_info[:count]
        ids = [info["id"] for info in infos]
        truth = read_train_csv(self.data_dir / "train.csv")
        truth = truth[truth["ImageId"].isin(set(ids))].reset_index(drop=True)
        return [Path(info["path"]) for info in infos], ids, truth


def training_batches(plan: TrainingPlan, config, data: RunData, run_dir: Path, workers: int = 1,
                     multiprocessing: bool = False):
    """(training, validation) :class:`~fashion_seg.mrcnn.pipeline.MaskRCNNBatches` of ``STEPS_PER_EPOCH`` /
    ``VALIDATION_STEPS`` batches per epoch."""
    from ..data.attributes import AttributeTargets
    from ..data.augmentation import make_augmentation
    from ..mrcnn.canvas import MultiScale
    from ..mrcnn.pipeline import MaskRCNNBatches

    common = {"seed": plan.seed, "broken_log": run_dir / BROKEN_FILE, "workers": workers,
              "use_multiprocessing": multiprocessing}
    # The validation images' attribute targets follow the rule of the training images' table.
    train_attributes = AttributeTargets(data.train, data.attributes) if config.ATTRIBUTE_HEAD else None
    val_attributes = AttributeTargets(data.val, data.attributes) if config.ATTRIBUTE_HEAD else None
    train = MaskRCNNBatches(data.train, config, steps=config.STEPS_PER_EPOCH,
                            augmentation=make_augmentation(plan.augmentation, plan.cutout),
                            multiscale=MultiScale(*plan.multiscale) if plan.multiscale else None,
                            attributes=train_attributes, **common)
    val = MaskRCNNBatches(data.val, config, training=False, steps=config.VALIDATION_STEPS, attributes=val_attributes,
                          **common)
    return train, val
