"""One ``python train.py`` session: resolve the profile, config, plan and weights, then train the plan's stages.

    request = TrainingRequest(weights="coco", profile="dgx", model_dir="logs")
    result = run_training(request, PROFILES, FashionConfig, default_profile="gpu")

The order of things: devices (before the backend starts); where the run starts (a new run, or a resumed one with
its saved ``config.json`` and ``training.json``); the distribution strategy, whose replica count becomes
``GPU_COUNT``; the data (a split folder, or a stratified split made now and saved in the run directory); the
model and its weights; then each stage not finished yet, as :meth:`~fashion_seg.mrcnn.model.MaskRCNN.train` calls
with this package's callbacks.

How a session ends: normally (:class:`TrainingResult`); on Ctrl-C or SIGTERM by saving the weights as a stop
checkpoint and raising :class:`TrainingInterrupted`; on a NaN/inf loss by saving the last good weights and raising
:class:`TrainingStopped` (a :class:`~fashion_seg.errors.FashionSegError`, so the command prints one line).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, DataError, FashionSegError, WeightsError
from .callbacks import EpochRecorder, NonFiniteGuard, NonFiniteLoss, ProgressBar, RunClock, format_seconds
from .devices import is_chief, split_cpu, worker_index
from .history import HistoryFile
from .plan import Profile, TrainingPlan
from .runs import (
    ATTRIBUTES_FILE,
    BEST_FILE,
    BROKEN_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    LOG_FILE,
    PLAN_FILE,
    SPLIT_DIR,
    ResumePoint,
    best_checkpoint_name,
    checkpoint_name,
    newest_resume_point,
    parse_resume_point,
    set_aside_later_checkpoints,
)

log = logging.getLogger(__name__)

STARTING_WEIGHTS = ("coco", "imagenet", "none")


class TrainingStopped(FashionSegError):
    """Training stopped on a non-finite loss; the message names the step and the checkpoint written."""


class TrainingInterrupted(Exception):
    """Training was interrupted (Ctrl-C, SIGTERM) and its weights saved at ``checkpoint``."""

    def __init__(self, message: str, checkpoint: Path):
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass
class TrainingRequest:
    """What the command line asks for. ``weights``: coco, imagenet, none, last, or a path. ``profile``: None for
    the default (or, when resuming, the run's own). ``plan_changes`` / ``config_changes``: explicit settings, applied
    over the profile's (or the resumed run's). ``cpu_devices``: see :func:`fashion_seg.trainer.devices.split_cpu`.
    ``workers`` / ``multiprocessing``: how batches are built in parallel. ``new_run``: a checkpoint given as
    ``weights`` starts a new run instead of resuming its own. ``progress``: show progress bars (the log and the
    run's files are written either way)."""

    weights: str = "none"
    model_dir: str = "logs"
    profile: str | None = None
    plan_changes: Mapping[str, Any] = field(default_factory=dict)
    config_changes: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = "auto"
    cpu_devices: int = 0
    workers: int = 1
    multiprocessing: bool = False
    new_run: bool = False
    progress: bool = True


@dataclass
class TrainingResult:
    """A finished session: the run directory, the epochs this session trained (1-based, inclusive; none when the
    plan was already complete), the newest checkpoint, the best epoch (``best.json``) and the images skipped."""

    run_dir: Path
    first_epoch: int
    last_epoch: int
    checkpoint: Path | None
    best: dict | None
    best_checkpoint: Path | None
    broken_images: list
    seconds: float


def run_training(request: TrainingRequest, profiles: Mapping[str, Profile], config_class,
                 default_profile: str) -> TrainingResult:
    """Run the session ``request`` describes (see the module docstring)."""
    started = time.perf_counter()
    devices = split_cpu(request.cpu_devices)
    model_dir = Path(request.model_dir)
    if not is_chief():  # every worker writes its own files: only the chief's land in model_dir itself
        model_dir = model_dir / f"worker{worker_index()}"
    profile = _profile(profiles, request.profile or default_profile)
    name = str(request.config_changes.get("NAME") or profile.config.get("NAME") or config_class.NAME)
    point = _resume_point(request, model_dir, name)
    plan, values = _settings(request, profile, point, config_class)

    from ..mrcnn.distribute import make_distribution

    distribution = make_distribution(request.strategy, devices)
    requested = int(values.get("GPU_COUNT", config_class.GPU_COUNT))
    if requested != distribution.num_replicas:
        log.warning("GPU_COUNT=%d but strategy %r runs %d replica(s): training with GPU_COUNT=%d (global batch %d "
                    "images)", requested, distribution.name, distribution.num_replicas, distribution.num_replicas,
                    distribution.num_replicas * int(values.get("IMAGES_PER_GPU", config_class.IMAGES_PER_GPU)))
    values["GPU_COUNT"] = distribution.num_replicas
    if values.get("ATTRIBUTE_HEAD", config_class.ATTRIBUTE_HEAD):
        values["NUM_ATTRIBUTES"] = _label_attribute_count(plan, values.get("NUM_ATTRIBUTES"))
    config = config_class(**values)
    starting_weights = _starting_weights_path(request, point, config)
    if point is None and request.weights == "none" and config.TRAIN_BN is False:
        log.warning("--weights none with TRAIN_BN=False: the frozen BatchNorm layers keep their initial statistics "
                    "and normalise nothing, and the heads tend to predict background everywhere; from random weights "
                    "use --set TRAIN_BN=none (batch statistics, as the demo profile does)")
    data = _Data(plan)

    from ..mrcnn.model import MaskRCNN

    with distribution.scope():
        model = MaskRCNN("training", config, str(model_dir))
    if point is not None:
        model.model_dir = str(point.run_dir.parent)
        model.set_log_dir(str(point.run_dir / checkpoint_name(name, point.epoch)))
    run_dir = Path(model.log_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_log(run_dir / LOG_FILE):
        log.info("run %s (%s)", run_dir, "resumed at epoch %d" % (point.epoch + 1) if point else "new")
        plan = data.load(plan, run_dir)
        plan.save_json(run_dir / PLAN_FILE)
        if config.ATTRIBUTE_HEAD:
            from ..data.attributes import AttributeTable

            data.attributes = AttributeTable.from_dataset(data.train)
            data.attributes.save_json(run_dir / ATTRIBUTES_FILE)
        _load_weights(model, point, starting_weights, request.weights)
        if point is not None:
            for path in set_aside_later_checkpoints(point, name):
                log.warning("set aside %s: it comes after the checkpoint this run resumes from", path)
        _describe(plan, config, distribution, data)
        HistoryFile(run_dir / HISTORY_FILE).keep_until(model.epoch)
        first = model.epoch + 1
        with _sigterm_as_interrupt():
            _train_stages(model, plan, config, data, request, run_dir, name)
        result = _result(run_dir, first, model, name, time.perf_counter() - started)
    return result


# --------------------------------------------------------------------------------------------- settings


def _profile(profiles: Mapping[str, Profile], name: str) -> Profile:
    if name not in profiles:
        raise ConfigError(f"no profile {name!r}; choose one of {', '.join(profiles)}")
    return profiles[name]


def _resume_point(request: TrainingRequest, model_dir: Path, name: str) -> ResumePoint | None:
    if request.weights == "last":
        return newest_resume_point(model_dir, name)
    if request.weights in STARTING_WEIGHTS or request.new_run:
        return None
    return parse_resume_point(request.weights, name)


def _settings(request: TrainingRequest, profile: Profile, point: ResumePoint | None,
              config_class) -> tuple[TrainingPlan, dict]:
    """The plan and config values: the profile's for a new run, the run's saved ones for a resumed run, then the
    explicit changes of the request."""
    from ..checkpoints import read_config_values

    plan, values = profile.plan, dict(profile.config)
    if point is not None:
        saved_plan = point.run_dir / PLAN_FILE
        if saved_plan.exists():
            plan = TrainingPlan.load_json(saved_plan)
            if request.profile and request.profile != plan.profile:
                raise ConfigError(f"{point.run_dir} was trained with profile {plan.profile!r}, not "
                                  f"{request.profile!r}: leave out --profile to resume it, or add --new-run to start "
                                  "a new run from its weights")
        saved_config = point.run_dir / CONFIG_FILE
        if saved_config.exists():
            values = read_config_values(saved_config)
        for key, value in {**request.plan_changes, **request.config_changes}.items():
            log.info("resuming with %s changed to %r", key, value)
    plan = plan.replace(**request.plan_changes)
    values.update(request.config_changes)
    return plan, values


def _label_attribute_count(plan: TrainingPlan, given) -> int:
    """NUM_ATTRIBUTES of an attribute-head run: the attribute count of the data's label file."""
    from ..data.imaterialist import read_data_dir_labels

    labels = read_data_dir_labels(plan.data_dir)
    if given is not None and int(given) != labels.num_attributes:
        log.warning("NUM_ATTRIBUTES=%s, but %s lists %d attributes: training with NUM_ATTRIBUTES=%d", given,
                    labels.path, labels.num_attributes, labels.num_attributes)
    return labels.num_attributes


def _starting_weights_path(request: TrainingRequest, point: ResumePoint | None, config) -> Path | None:
    """The file of starting weights of a new run, found (and for COCO downloaded) before anything is built."""
    if point is not None or request.weights in ("none", "last"):
        return None
    if request.weights == "coco":
        from ..mrcnn.weights import coco_weights_path

        return coco_weights_path()
    if request.weights == "imagenet":
        from ..mrcnn.imagenet import imagenet_weights_path

        return imagenet_weights_path(config.BACKBONE)
    path = Path(request.weights)
    if not path.is_file():
        raise WeightsError(f"--weights {request.weights}: no such file (give coco, imagenet, last, none or the path "
                           "of an .h5 weights file)")
    return path


def _load_weights(model, point: ResumePoint | None, starting: Path | None, source: str) -> None:
    from ..mrcnn import weights as weight_io

    if point is not None:
        report = weight_io.load_weights(model.keras_model, point.path, by_name=True)
        if report.missing_in_file:
            raise WeightsError(f"{point.path} lacks {len(report.missing_in_file)} layers of this model (e.g. "
                               f"{report.missing_in_file[0]}): its config.json does not match it")
        log.info("resuming from %s", point.describe())
        return
    if starting is None:
        log.info("starting from random weights (--weights none)")
        return
    exclude = class_specific_mismatches(model.keras_model, starting)
    report = weight_io.load_weights(model.keras_model, starting, by_name=True, exclude=exclude)
    log.info("starting weights (%s): %s", source, report.summary())


def class_specific_mismatches(keras_model, path: Path) -> list[str]:
    """The class-specific layers (:data:`fashion_seg.mrcnn.weights.CLASS_SPECIFIC_LAYERS`) whose shapes in the
    weights file ``path`` differ from the model's: a file trained for another number of classes (COCO's 81). They
    are excluded from loading (and so start from scratch), which the log says. So is an attribute head
    (``mrcnn_attr_logits``) trained for another number of attributes (a 2019 file in a 2020 run)."""
    from ..mrcnn import weights as weight_io

    model_shapes = {entry.name: [tuple(v.shape) for v in entry.variables]
                    for entry in weight_io.weight_layers(keras_model)}
    with weight_io.WeightFile(path) as weights:
        present = [name for name in weight_io.CLASS_SPECIFIC_LAYERS if name in weights.weight_names]
        different = [name for name in present if [tuple(s) for s in weights.shapes(name)] != model_shapes.get(name)]
        classes = weights.shapes("mrcnn_class_logits")[-1][-1] if "mrcnn_class_logits" in present else None
        attributes = "mrcnn_attr_logits"
        other_attributes = (attributes in weights.weight_names and attributes in model_shapes
                            and [tuple(s) for s in weights.shapes(attributes)] != model_shapes[attributes])
        file_attributes = weights.shapes(attributes)[-1][-1] if other_attributes else None
    if other_attributes:
        log.info("%s was trained for %d attributes, this model has %d: mrcnn_attr_logits starts from scratch", path,
                 file_attributes, model_shapes[attributes][-1][-1])
    if different:
        ours = model_shapes["mrcnn_class_logits"][-1][-1]
        log.info("%s was trained for %s classes, this model has %d: the class-specific layers %s start from "
                 "scratch (matterport's exclude list)", path, classes if classes is not None else "another number of",
                 ours, ", ".join(different))
    return different + ([attributes] if other_attributes else [])


# --------------------------------------------------------------------------------------------- data


class _Data:
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
        from ..data.imaterialist import image_file_name
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
        from ..data.imaterialist import read_train_csv

        infos = self.val.image_info[:count]
        ids = [info["id"] for info in infos]
        truth = read_train_csv(self.data_dir / "train.csv")
        truth = truth[truth["ImageId"].isin(set(ids))].reset_index(drop=True)
        return [Path(info["path"]) for info in infos], ids, truth


def _batches(plan: TrainingPlan, config, data: _Data, request: TrainingRequest, run_dir: Path):
    """(training, validation) :class:`~fashion_seg.trainer.batches.StepsPerEpoch`."""
    from ..data.attributes import AttributeTargets
    from ..data.augmentation import make_augmentation
    from ..data.pipeline import MaskRCNNBatches
    from ..mrcnn.canvas import MultiScale
    from .batches import StepsPerEpoch

    parallel = {"workers": request.workers, "use_multiprocessing": request.multiprocessing}
    broken = run_dir / BROKEN_FILE
    # The validation images' attribute targets follow the rule of the training images' table.
    train_attributes = AttributeTargets(data.train, data.attributes) if config.ATTRIBUTE_HEAD else None
    val_attributes = AttributeTargets(data.val, data.attributes) if config.ATTRIBUTE_HEAD else None
    train = MaskRCNNBatches(data.train, config, augmentation=make_augmentation(plan.augmentation, plan.cutout),
                            multiscale=MultiScale(*plan.multiscale) if plan.multiscale else None, seed=plan.seed,
                            broken_log=broken, attributes=train_attributes, use_multiprocessing=request.multiprocessing)
    val = MaskRCNNBatches(data.val, config, training=False, seed=plan.seed, broken_log=broken,
                          attributes=val_attributes, use_multiprocessing=request.multiprocessing)
    return (StepsPerEpoch(train, config.STEPS_PER_EPOCH, **parallel),
            StepsPerEpoch(val, config.VALIDATION_STEPS, **parallel))


# --------------------------------------------------------------------------------------------- training


def _validation_scorer(plan: TrainingPlan, config, data: _Data, run_dir: Path):
    if plan.val_metric_every == 0:
        return None
    from ..prediction.postprocess import load_preset
    from ..prediction.predict_images import class_categories
    from .validation import ValidationScorer

    paths, ids, truth = data.validation_truth(plan.val_metric_images)
    return ValidationScorer(config, paths, ids, truth, class_categories(data.val.labels),
                            load_preset(plan.val_metric_preset), str(run_dir.parent), config.IMAGES_PER_GPU)


def _train_stages(model, plan: TrainingPlan, config, data: _Data, request: TrainingRequest, run_dir: Path,
                  name: str) -> None:
    from .lr_schedule import WarmupStepDecay
    from .validation import ValidationMetric

    scorer = _validation_scorer(plan, config, data, run_dir)
    clock = RunClock(final_epoch=plan.total_epochs, epoch=model.epoch, finished=model.epoch)
    progress = None
    try:
        for index, (stage, end) in enumerate(zip(plan.stages, plan.stage_ends())):
            if end <= model.epoch:
                continue
            train, val = _batches(plan, config, data, request, run_dir)
            steps = len(train)
            schedule = WarmupStepDecay(config.LEARNING_RATE * stage.lr_factor, steps, model.epoch * steps,
                                       plan.warmup_steps, plan.warmup_factor, plan.decay_epochs, plan.decay_factor)
            progress = ProgressBar(clock, config.BATCH_SIZE, steps, stage.layers, show=request.progress)
            callbacks = [progress, NonFiniteGuard(train)]  # train() keeps the batches on fit's epoch
            if scorer is not None:
                callbacks.append(ValidationMetric(scorer, plan.val_metric_every, plan.total_epochs,
                                                  progress=request.progress))
            callbacks.append(EpochRecorder(str(run_dir), name, clock, index + 1, stage.layers,
                                           lambda epoch, rate=schedule.rate, steps=steps: rate(epoch * steps),
                                           config.BATCH_SIZE, steps, metric_on=scorer is not None))
            log.info("stage %d/%d: %s layers, epochs %d-%d, %d steps of %d images, learning rate %r", index + 1,
                     len(plan.stages), stage.layers, model.epoch + 1, end, steps, config.BATCH_SIZE, schedule)
            model.train(train, val, schedule, epochs=end, layers=stage.layers, custom_callbacks=callbacks,
                        verbose=0)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        _sync_state(model)
        # Counted by the clock, not by the checkpoint files: a run resumed from an earlier checkpoint still has the
        # later epochs' files of its first attempt.
        done = clock.finished
        path = _save(model, run_dir / checkpoint_name(name, done, "interrupted"))
        where = f"after epoch {done}" if done > clock.epoch else \
            f"in epoch {clock.epoch + 1}, after step {clock.step}"
        parts = f" (epoch {done} + {clock.step} steps)" if done == clock.epoch else ""
        raise TrainingInterrupted(f"interrupted {where}: saved {path}{parts}; continue with --weights last", path) \
            from None
    except NonFiniteLoss as stop:
        if progress is not None:
            progress.close()
        if stop.good_weights is None:
            raise TrainingStopped(f"{stop}: start from other weights (a checkpoint written before the weights went "
                                  "bad, or coco, imagenet, none)") from None
        model.keras_model.set_weights(stop.good_weights)
        path = _save(model, run_dir / checkpoint_name(name, stop.epoch - 1, "last_good"))
        if stop.good_step == 0:
            when = f"at the start of epoch {stop.good_epoch}"
        elif stop.good_step == stop.steps:
            when = f"at the end of epoch {stop.good_epoch}"
        else:
            when = f"after step {stop.good_step} of epoch {stop.good_epoch}"
        images = f" (images: {', '.join(stop.images)})" if stop.images else ""
        raise TrainingStopped(f"{stop}{images}: training stopped; the last good weights ({when}) are in {path}. "
                              "Lower LEARNING_RATE (--set LEARNING_RATE=...) or fix the data, then --weights last") \
            from None


def _sync_state(model) -> None:
    # JAX keeps the training state outside the model during an epoch; attach the newest one before saving.
    sync = getattr(model.keras_model, "jax_state_sync", None)
    if sync is not None:
        sync()


def _save(model, path: Path) -> Path:
    from ..mrcnn.weights import save_weights

    return save_weights(model.keras_model, path)


def _describe(plan: TrainingPlan, config, distribution, data: _Data) -> None:
    log.info("profile %s: %s, %dx%d images, %d replica(s) (%s) x %d images, precision %s, jit %s", plan.profile,
             config.BACKBONE, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1], distribution.num_replicas,
             distribution.name, config.IMAGES_PER_GPU, config.PRECISION,
             {None: "auto", True: "on", False: "off"}.get(config.JIT_COMPILE, config.JIT_COMPILE))
    log.info("stages: %s; augmentation %s%s%s; %d training and %d validation images (%s)", plan.describe_stages(),
             plan.augmentation, " + cutout" if plan.cutout else "",
             f"; multi-scale short side {plan.multiscale[0]}-{plan.multiscale[1]}" if plan.multiscale else "",
             len(data.train.image_ids), len(data.val.image_ids), plan.split)


def _result(run_dir: Path, first: int, model, name: str, seconds: float) -> TrainingResult:
    from ..data.batches import BrokenImage

    best = json.loads((run_dir / BEST_FILE).read_text(encoding="utf-8")) if (run_dir / BEST_FILE).exists() else None
    broken_path = run_dir / BROKEN_FILE
    broken = []
    if broken_path.exists():
        seen = {}
        for line in broken_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = BrokenImage(**json.loads(line))
                seen.setdefault(item.reference or item.image_id, item)
        broken = list(seen.values())
    checkpoint = run_dir / checkpoint_name(name, model.epoch)
    log.info("session done in %s: %s", format_seconds(seconds), run_dir)
    return TrainingResult(run_dir, first, model.epoch, checkpoint if checkpoint.exists() else None, best,
                          run_dir / best_checkpoint_name(name) if best else None, broken, seconds)


@contextlib.contextmanager
def _run_log(path: Path):
    """Copy the log to the run's ``train.log`` while the session runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        previous_level = root.level
        root.setLevel(logging.INFO)
    else:
        previous_level = None
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        if previous_level is not None:
            root.setLevel(previous_level)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (``kill``, ``DGX_ssh_comm.py stop``) ends training like Ctrl-C: weights saved, clean exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
