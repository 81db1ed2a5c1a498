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

from ..errors import ConfigError, FashionSegError
from .callbacks import EpochRecorder, NonFiniteGuard, NonFiniteLoss, ProgressBar, RunClock, format_seconds
from .devices import is_chief, split_cpu, worker_index
from .history import HistoryFile
from .plan import Profile, TrainingPlan
from .run_data import RunData, training_batches
from .runs import (
    ATTRIBUTES_FILE,
    BEST_FILE,
    BROKEN_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    LOG_FILE,
    PLAN_FILE,
    ResumePoint,
    best_checkpoint_name,
    checkpoint_name,
    newest_resume_point,
    parse_resume_point,
    set_aside_later_checkpoints,
)
from .starting_weights import load_run_weights, starting_weights_path

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
    starting_weights = starting_weights_path(request.weights, point, config)
    if point is None and request.weights == "none" and config.TRAIN_BN is False:
        log.warning("--weights none with TRAIN_BN=False: the frozen BatchNorm layers keep their initial statistics "
                    "and normalise nothing, and the heads tend to predict background everywhere; from random weights "
                    "use --set TRAIN_BN=none (batch statistics, as the demo profile does)")
    data = RunData(plan)

    import keras

    from ..mrcnn.model import MaskRCNN

    # The plan's seed also fixes the initial weights (every worker's the same) and the layers' own random draws (ROI
    # sampling), so two runs of one command on one machine give the same figures.
    keras.utils.set_random_seed(plan.seed)
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
        load_run_weights(model, point, starting_weights, request.weights)
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
    from ..data.labels import read_data_dir_labels

    labels = read_data_dir_labels(plan.data_dir)
    if given is not None and int(given) != labels.num_attributes:
        log.warning("NUM_ATTRIBUTES=%s, but %s lists %d attributes: training with NUM_ATTRIBUTES=%d", given,
                    labels.path, labels.num_attributes, labels.num_attributes)
    return labels.num_attributes


# --------------------------------------------------------------------------------------------- training


def _validation_scorer(plan: TrainingPlan, config, data: RunData, run_dir: Path):
    if plan.val_metric_every == 0:
        return None
    from ..prediction.settings import load_preset
    from ..prediction.predict_images import class_categories
    from .val_metric import ValidationScorer

    paths, ids, truth = data.validation_truth(plan.val_metric_images)
    return ValidationScorer(config, paths, ids, truth, class_categories(data.val.labels),
                            load_preset(plan.val_metric_preset), str(run_dir.parent), config.IMAGES_PER_GPU)


def _train_stages(model, plan: TrainingPlan, config, data: RunData, request: TrainingRequest, run_dir: Path,
                  name: str) -> None:
    from .lr_schedule import WarmupStepDecay
    from .val_metric import ValidationMetric

    scorer = _validation_scorer(plan, config, data, run_dir)
    clock = RunClock(final_epoch=plan.total_epochs, epoch=model.epoch, finished=model.epoch)
    progress = None
    try:
        for index, (stage, end) in enumerate(zip(plan.stages, plan.stage_ends())):
            if end <= model.epoch:
                continue
            train, val = training_batches(plan, config, data, run_dir, request.workers, request.multiprocessing)
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


def _describe(plan: TrainingPlan, config, distribution, data: RunData) -> None:
    log.info("profile %s: %s, %dx%d images, %d replica(s) (%s) x %d images, precision %s, jit %s", plan.profile,
             config.BACKBONE, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1], distribution.num_replicas,
             distribution.name, config.IMAGES_PER_GPU, config.PRECISION,
             {None: "auto", True: "on", False: "off"}.get(config.JIT_COMPILE, config.JIT_COMPILE))
    log.info("stages: %s; augmentation %s%s%s; %d training and %d validation images (%s)", plan.describe_stages(),
             plan.augmentation, " + cutout" if plan.cutout else "",
             f"; multi-scale short side {plan.multiscale[0]}-{plan.multiscale[1]}" if plan.multiscale else "",
             len(data.train.image_ids), len(data.val.image_ids), plan.split)


def _result(run_dir: Path, first: int, model, name: str, seconds: float) -> TrainingResult:
    from ..mrcnn.batches import BrokenImage

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
