"""The learning rate over a run: linear warm-up from a fraction of the rate, step decay after given epochs, and the
same values whether asked in Python (history, logs) or by the optimizer (a tensor, from the stage's own step 0)."""

import keras
import pytest

from fashion_seg.trainer.lr_schedule import WarmupStepDecay

pytestmark = pytest.mark.jax  # pure keras.ops: the same on both backends

BASE = 0.02


def first_place_like(start_step: int = 0) -> WarmupStepDecay:
    """10 steps per epoch, warm-up over the first 5 steps from 1/3, x0.1 after epochs 2 and 4."""
    return WarmupStepDecay(BASE, steps_per_epoch=10, start_step=start_step, warmup_steps=5, warmup_factor=1 / 3,
                           decay_epochs=(2, 4), decay_factor=0.1)


@pytest.mark.parametrize("step, rate", [
    (0, BASE / 3),                        # warm-up starts at a third
    (3, BASE * (1 / 3 + 2 / 3 * 3 / 5)),  # linear: 3/5 of the way
    (5, BASE),                            # warm-up done
    (19, BASE),                           # last step of epoch 2
    (20, BASE * 0.1),                     # epoch 3: after the first decay epoch
    (39, BASE * 0.1),
    (40, BASE * 0.01),                    # epoch 5 on: after both
    (1000, BASE * 0.01),
])
def test_warm_up_then_step_decay(step, rate):
    assert first_place_like().rate(step) == pytest.approx(rate, rel=1e-12)


def test_the_optimizer_sees_the_same_rates_from_the_stage_start():
    python = first_place_like()
    for start in (0, 15):  # a stage starting at the run's step 15 counts its own steps from 0
        stage = first_place_like(start_step=start)
        for step in range(50 - start):
            tensor = float(keras.ops.convert_to_numpy(stage(keras.ops.convert_to_tensor(step))))
            assert tensor == pytest.approx(python.rate(start + step), rel=1e-6), (start, step)


def test_a_constant_rate_without_warm_up_or_decay():
    constant = WarmupStepDecay(2e-4, steps_per_epoch=1520)
    rates = [constant.rate(step) for step in (0, 1, 1520 * 25)]
    assert rates == [2e-4, 2e-4, 2e-4]
    assert float(keras.ops.convert_to_numpy(constant(keras.ops.convert_to_tensor(7)))) == pytest.approx(2e-4)
    assert repr(constant) == "0.0002"


def test_config_round_trip_and_description():
    schedule = first_place_like(start_step=15)
    again = WarmupStepDecay.from_config(schedule.get_config())
    assert [again.rate(s) for s in range(60)] == [schedule.rate(s) for s in range(60)]
    assert again.start_step == 15
    assert repr(schedule) == "0.02 (warm-up 5 steps from x0.333; x0.1 after epochs 2, 4)"
