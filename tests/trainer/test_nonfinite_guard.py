""":class:`NonFiniteGuard` on a small dense model, where the weights after each step can be recomputed: the first
non-finite loss stops ``fit`` with the weights of the step before it, on TensorFlow and on JAX (whose trainer keeps
the weights outside the model during an epoch)."""

import keras
import numpy as np
import pytest

from fashion_seg.trainer.callbacks import NonFiniteGuard, NonFiniteLoss

pytestmark = pytest.mark.jax

BATCH, STEPS = 4, 4


class Batches(keras.utils.PyDataset):
    """``steps`` fixed regression batches; the first input of batch ``nan_at`` (0-based) is NaN."""

    def __init__(self, steps=STEPS, nan_at=None):
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(steps, BATCH, 3)).astype("float32")
        self.y = self.x @ np.array([[1.0], [-2.0], [0.5]], "float32")
        self.nan_at = nan_at

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        x = self.x[index].copy()
        if index == self.nan_at:
            x[0, 0] = np.nan
        return x, self.y[index]


def dense_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


@pytest.mark.parametrize("nan_at", [2, 0])
def test_a_nan_step_stops_fit_with_the_weights_before_it(nan_at):
    model = dense_model()
    start = model.get_weights()
    guard = NonFiniteGuard(budget=1.0)  # a snapshot after every step
    with pytest.raises(NonFiniteLoss) as stopped:
        model.fit(Batches(nan_at=nan_at), epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    stop = stopped.value
    assert (stop.epoch, stop.step, stop.steps) == (1, nan_at + 1, STEPS)
    assert np.isnan(stop.value)
    assert str(stop) == f"non-finite loss (nan) at epoch 1, step {nan_at + 1} of {STEPS}"
    assert (stop.good_epoch, stop.good_step) == (1, nan_at)  # step 0: the start of the epoch
    if nan_at:
        reference = dense_model()  # the same start, trained on the good steps only
        reference.fit(Batches(steps=nan_at), epochs=1, shuffle=False, verbose=0)
        expected = reference.get_weights()
        assert not np.allclose(expected[0], start[0])
    else:
        expected = start
    assert len(stop.good_weights) == len(expected)
    for got, want in zip(stop.good_weights, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def loss_blind_to_nan(y_true, y_pred):
    """Squared error over the finite predictions only: a NaN input leaves the loss finite, but its gradient is NaN
    (0 x NaN), as with a NaN pixel that reaches the Mask R-CNN losses only through masked-out terms."""
    error = keras.ops.square(y_pred - y_true)
    return keras.ops.mean(keras.ops.where(keras.ops.isfinite(error), error, keras.ops.zeros_like(error)))


@pytest.mark.parametrize("budget, message, good_step", [
    (1.0, f"non-finite weights at epoch 1, step {STEPS} of {STEPS} (the loss was finite; a gradient was not)",
     STEPS - 1),
    (1e-9, f"non-finite weights at epoch 1, steps 2-{STEPS} of {STEPS} (the loss was finite; a gradient was not)",
     1),  # copies spaced out: after step 1, then the epoch's last step
], ids=["copies-every-step", "copies-spaced"])
def test_weights_gone_bad_with_a_finite_loss_stop_before_the_epoch_ends(budget, message, good_step):
    model = dense_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss_blind_to_nan)
    batches = Batches(nan_at=STEPS - 1)  # the last step: no later step's loss would show it
    ends = []
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(epoch))
    with pytest.raises(NonFiniteLoss) as stopped:
        model.fit(batches, epochs=2, shuffle=False, verbose=0, callbacks=[NonFiniteGuard(budget=budget), stamp])
    assert str(stopped.value) == message
    assert (stopped.value.good_epoch, stopped.value.good_step) == (1, good_step)
    assert all(np.isfinite(w).all() for w in stopped.value.good_weights)
    assert ends == []  # stopped inside the epoch: no epoch-end callback (checkpoint) saw the bad weights


def test_starting_weights_that_are_not_finite_stop_before_the_first_step():
    model = dense_model()
    weights = model.get_weights()
    weights[0][0, 0] = np.inf
    model.set_weights(weights)
    with pytest.raises(NonFiniteLoss) as stopped:
        model.fit(Batches(), epochs=1, shuffle=False, verbose=0, callbacks=[NonFiniteGuard()])
    assert str(stopped.value) == "non-finite weights at the start of epoch 1 (the starting weights)"
    assert stopped.value.good_weights is None
