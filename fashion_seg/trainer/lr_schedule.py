"""The learning rate of a stage: a base rate, an optional linear warm-up at the start of the run and step decay at
given epochs (the 1st place's schedule: warm-up over 500 iterations from 1/3, x0.1 after epochs 10 and 18).

Each stage compiles a new optimizer whose step counter starts at 0, so the schedule is told the run's global step at
which the stage starts (``start_step``): warm-up and decay follow the run's steps, whatever the stage, also after a
resume.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_seg")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``base_rate x warm-up(step) x decay_factor ** (decay epochs passed)`` at global step ``start_step + step``.

    warm-up(step) rises linearly from ``warmup_factor`` at step 0 to 1 at ``warmup_steps`` (1 throughout when
    ``warmup_steps`` is 0). A decay epoch ``e`` (1-based) applies from global step ``e x steps_per_epoch`` on.
    """

    def __init__(self, base_rate: float, steps_per_epoch: int, start_step: int = 0, warmup_steps: int = 0,
                 warmup_factor: float = 1 / 3, decay_epochs=(), decay_factor: float = 0.1):
        self.base_rate = float(base_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.start_step = int(start_step)
        self.warmup_steps = int(warmup_steps)
        self.warmup_factor = float(warmup_factor)
        self.decay_epochs = [int(e) for e in decay_epochs]
        self.decay_factor = float(decay_factor)

    def rate(self, global_step: int) -> float:
        """The rate at ``global_step`` of the run, in plain Python (for logs and the history)."""
        warm = 1.0
        if self.warmup_steps and global_step < self.warmup_steps:
            warm = self.warmup_factor + (1 - self.warmup_factor) * global_step / self.warmup_steps
        passed = sum(global_step >= e * self.steps_per_epoch for e in self.decay_epochs)
        return self.base_rate * warm * self.decay_factor ** passed

    def __call__(self, step):
        global_step = ops.cast(step, "float32") + float(self.start_step)
        rate = ops.convert_to_tensor(self.base_rate, dtype="float32")
        if self.warmup_steps:
            progress = ops.minimum(global_step / float(self.warmup_steps), 1.0)
            rate = rate * (self.warmup_factor + (1 - self.warmup_factor) * progress)
        for epoch in self.decay_epochs:
            passed = ops.cast(global_step >= float(epoch * self.steps_per_epoch), "float32")
            rate = rate * (1.0 - passed * (1.0 - self.decay_factor))
        return rate

    def get_config(self):
        return {"base_rate": self.base_rate, "steps_per_epoch": self.steps_per_epoch, "start_step": self.start_step,
                "warmup_steps": self.warmup_steps, "warmup_factor": self.warmup_factor,
                "decay_epochs": self.decay_epochs, "decay_factor": self.decay_factor}

    def __repr__(self) -> str:
        extras = []
        if self.warmup_steps:
            extras.append(f"warm-up {self.warmup_steps} steps from x{self.warmup_factor:.3g}")
        if self.decay_epochs:
            extras.append(f"x{self.decay_factor:g} after epochs {', '.join(map(str, self.decay_epochs))}")
        return f"{self.base_rate:g}" + (f" ({'; '.join(extras)})" if extras else "")
