"""The Model: training, sampling, saving, rollout."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNV2
from tests import numpy_reference as ref
from tests.test_case import TestCase
from tests.test_case import st_lstm_weights

TINY = dict(num_hidden=[4, 4], filter_size=3, patch_size=2, input_length=3)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def moving_square_frames(num=8, steps=6, size=8, seed=0):
    """A bright 2x2 square moving one pixel per frame: learnable quickly."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((num, steps, size, size, 1), "float32")
    for n in range(num):
        y, x = rng.integers(0, size - 2, 2)
        dy, dx = rng.choice([-1, 1], 2)
        for t in range(steps):
            frames[n, t, y : y + 2, x : x + 2] = 1.0
            if not 0 <= y + dy <= size - 2:
                dy = -dy
            if not 0 <= x + dx <= size - 2:
                dx = -dx
            y, x = y + dy, x + dx
    return frames


def numpy_rollout(model, context, horizon):
    cell = model.cell
    frames = np.concatenate(
        [context, np.zeros((len(context), horizon) + context.shape[2:])], 1
    )
    mask = np.zeros((len(context), frames.shape[1] - 1))
    mask[:, : context.shape[1]] = 1
    preds, _ = ref.predrnn_forward(
        frames,
        mask,
        [st_lstm_weights(layer) for layer in cell.st_lstm_layers],
        TestCase.to_numpy(cell.head.kernel),
        model.patch_size,
    )
    return preds[:, context.shape[1] - 1 :]


class PredRNNTest(TestCase):
    @parameterized.named_parameters(
        ("predrnn", PredRNN, {}), ("predrnn_v2", PredRNNV2, {})
    )
    def test_fit_loss_falls(self, cls, extra):
        frames = moving_square_frames()
        model = cls(**TINY, seed=1, **extra)
        model.compile(optimizer=keras.optimizers.Adam(3e-2))
        history = model.fit(frames, batch_size=4, epochs=6, verbose=0)
        losses = history.history["loss"]
        self.assertLess(losses[-1], 0.8 * losses[0])
        expected = {"loss", "mse"} | ({"decouple"} if cls is PredRNNV2 else set())
        self.assertEqual(set(history.history), expected)
        if cls is PredRNNV2:
            # loss = mse + beta * decouple, each the mean of the two steps.
            np.testing.assert_allclose(
                losses[-1],
                history.history["mse"][-1]
                + 0.1 * history.history["decouple"][-1],
                rtol=1e-4,
            )

    @parameterized.named_parameters(("reverse_input", True), ("forward_only", False))
    def test_one_schedule_step_per_iteration(self, reverse_input):
        frames = moving_square_frames(num=8)
        model = PredRNN(**TINY, reverse_input=reverse_input, seed=0)
        model.compile(optimizer="adam")
        model.fit(frames, batch_size=4, epochs=2, verbose=0)
        self.assertEqual(int(self.to_numpy(model.sampling_step)), 4)
        optimizer_steps = int(self.to_numpy(model.optimizer.iterations))
        self.assertEqual(optimizer_steps, 8 if reverse_input else 4)

    def test_training_masks(self):
        frames = np.zeros((64, 8, 4, 4, 1), "float32")
        model = PredRNN(**TINY, sampling="scheduled", sampling_stop_iter=100, seed=3)
        model.build(frames.shape)

        def mask_at(step):
            model.sampling_step.assign(step)
            return self.to_numpy(model.next_training_mask(frames))

        mask = mask_at(0)  # iteration 1: eta = 1 - 2e-5
        self.assertEqual(mask.shape, (64, 7))
        self.assertEqual(int(self.to_numpy(model.sampling_step)), 1)
        np.testing.assert_array_equal(mask, 1.0)
        mask = mask_at(99)  # iteration 100 = stop: eta = 0
        np.testing.assert_array_equal(mask[:, :3], 1.0)
        np.testing.assert_array_equal(mask[:, 3:], 0.0)
        # Same (seed, step): same mask; another step: another mask.
        model.sampling_step.assign(0)
        model.sampling_changing_rate = 0.5 / 100  # eta = 0.5 at iteration 100
        model.sampling_stop_iter = 1000
        first = mask_at(99)
        np.testing.assert_array_equal(first, mask_at(99))
        self.assertFalse(np.array_equal(first, mask_at(98)))
        self.assertTrue(0.3 < first[:, 3:].mean() < 0.7)

    def test_reverse_training_masks(self):
        frames = np.zeros((256, 8, 4, 4, 1), "float32")
        model = PredRNNV2(
            **TINY, r_sampling_step_1=10, r_sampling_step_2=20, seed=4
        )
        model.build(frames.shape)
        model.sampling_step.assign(0)  # iteration 1: r_eta = eta = 0.5
        mask = self.to_numpy(model.next_training_mask(frames))
        np.testing.assert_array_equal(mask[:, 0], 1.0)
        self.assertTrue(0.4 < mask[:, 1:3].mean() < 0.6)
        self.assertTrue(0.4 < mask[:, 3:].mean() < 0.6)
        model.sampling_step.assign(19)  # iteration 20: r_eta = 1, eta = 0
        mask = self.to_numpy(model.next_training_mask(frames))
        np.testing.assert_array_equal(mask[:, :3], 1.0)
        np.testing.assert_array_equal(mask[:, 3:], 0.0)

    def test_predict_future_beyond_training_length(self):
        frames = moving_square_frames(num=4, steps=6)
        model = PredRNN(**TINY, seed=2)
        model.compile(optimizer="adam")
        model.fit(frames, batch_size=4, epochs=1, verbose=0)
        context = frames[:, :3]
        future = model.predict_future(context, horizon=9, batch_size=2)
        self.assertEqual(future.shape, (4, 9, 8, 8, 1))
        np.testing.assert_allclose(
            future, numpy_rollout(model, context, 9), atol=1e-5
        )
        # Another context length than input_length works as well.
        longer = model.predict_future(frames[:, :5], horizon=2)
        np.testing.assert_allclose(
            longer, numpy_rollout(model, frames[:, :5], 2), atol=1e-5
        )
        rolled = self.to_numpy(model.rollout(context, 9))
        np.testing.assert_allclose(rolled, future, atol=1e-6)

    @pytest.mark.large
    def test_keras_file_round_trip_and_resume(self):
        frames = moving_square_frames(num=8)
        model = PredRNNV2(**TINY, layer_norm=True, seed=5)
        model.compile(optimizer="adam")
        model.fit(frames, batch_size=4, epochs=1, verbose=0)
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, PredRNNV2)
        self.assertEqual(loaded.get_config(), model.get_config())
        self.assertEqual(int(self.to_numpy(loaded.sampling_step)), 2)
        np.testing.assert_array_equal(
            loaded.predict(frames, verbose=0), model.predict(frames, verbose=0)
        )
        # Training goes on from the saved schedule step and optimizer state.
        self.assertEqual(
            int(self.to_numpy(loaded.optimizer.iterations)),
            int(self.to_numpy(model.optimizer.iterations)),
        )
        loaded.fit(frames, batch_size=4, epochs=1, verbose=0)
        self.assertEqual(int(self.to_numpy(loaded.sampling_step)), 4)

    def test_config_round_trip(self):
        model = PredRNN(**TINY, sampling="reverse", decouple_beta=0.01,
                        r_sampling_step_1=5000, r_exp_alpha=2000, seed=7)
        config = model.get_config()
        clone = PredRNN.from_config(config)
        self.assertEqual(clone.get_config(), config)
        self.assertEqual(config["seed"], 7)
        self.assertTrue(clone.decoupling)
        self.run_class_serialization_test(model)

    def test_residual_adds_the_step_input(self):
        frames = moving_square_frames(num=2, steps=6)
        model = PredRNNV2(**TINY, residual=True, seed=3)
        context = frames[:, :3]
        # Untrained, the head is zero: the last context frame, repeated.
        np.testing.assert_array_equal(
            model.predict_future(context, 4), np.repeat(context[:, -1:], 4, 1)
        )
        # With a head: the paper's network on the same weights, plus the
        # frame that entered the step.
        head = model.cell.head.kernel
        rng = np.random.default_rng(0)
        head.assign(rng.normal(0, 0.3, head.shape).astype("float32"))
        plain = PredRNNV2(**TINY, seed=3)
        plain.build(frames.shape)
        plain.set_weights(model.get_weights())
        inputs = {"frames": frames, "mask": np.ones((2, 5), "float32")}
        np.testing.assert_allclose(
            self.to_numpy(model(inputs)),
            self.to_numpy(plain(inputs)) + frames[:, :-1],
            atol=1e-5,
        )
        # A generated step's input is the previous prediction.
        rollout = model.predict_future(context, 2)
        step = model({"frames": frames[:, :5], "mask": np.ones((2, 4))})
        self.assertFalse(np.allclose(rollout[:, 0], rollout[:, 1]))
        np.testing.assert_allclose(
            rollout[:, 0], self.to_numpy(step)[:, 2], atol=1e-5
        )
        self.assertTrue(model.get_config()["residual"])
        self.assertFalse(plain.get_config()["residual"])

    def test_residual_model_learns(self):
        frames = moving_square_frames()
        model = PredRNN(**TINY, residual=True, seed=1)
        model.compile(optimizer=keras.optimizers.Adam(3e-2))
        history = model.fit(frames, batch_size=4, epochs=6, verbose=0)
        losses = history.history["loss"]
        self.assertLess(losses[-1], 0.8 * losses[0])
        self.assertGreater(np.abs(self.to_numpy(model.cell.head.kernel)).max(), 0)

    def test_seed_is_drawn_once_and_kept(self):
        model = PredRNN(**TINY)
        self.assertIsInstance(model.get_config()["seed"], int)
        clone = PredRNN.from_config(model.get_config())
        self.assertEqual(clone.seed, model.seed)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="sampling='teacher'"):
            PredRNN(sampling="teacher")
        with pytest.raises(ValueError, match="equal hidden sizes"):
            PredRNN(num_hidden=[8, 4]).build((None, 6, 8, 8, 1))
        with pytest.raises(ValueError, match="width to be a multiple of patch_size=4. Received: width=10"):
            PredRNN(**{**TINY, "patch_size": 4}).build((None, 6, 8, 10, 1))
        with pytest.raises(ValueError, match="r_sampling_step_1 < r_sampling_step_2"):
            PredRNN(r_sampling_step_1=10, r_sampling_step_2=5)
        model = PredRNN(**TINY)
        model.build((None, 6, 8, 8, 1))
        with pytest.raises(ValueError, match="Received keys"):
            model({"video": np.zeros((1, 6, 8, 8, 1))})
        with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
            model(np.zeros((1, 6, 16, 16, 1)))
        with pytest.raises(ValueError, match="horizon >= 1"):
            model.predict_future(np.zeros((1, 3, 8, 8, 1)), 0)


CROSS_BACKEND_SCRIPT = """
import json, sys
import numpy as np
import keras
import predrnn_keras
model = predrnn_keras.PredRNNV2(num_hidden=[4, 4], filter_size=3,
                                patch_size=2, input_length=3, seed=9)
model.build((None, 6, 8, 8, 1))
rng = np.random.default_rng(0)
for w in model.trainable_weights:
    w.assign(rng.normal(0, 0.3, tuple(w.shape)).astype("float32"))
frames = rng.random((2, 6, 8, 8, 1)).astype("float32")
np.save(sys.argv[2], np.asarray(model.predict(frames, verbose=0)))
np.save(sys.argv[3], frames)
model.save(sys.argv[1])
"""


@pytest.mark.large
@pytest.mark.parametrize("source", ["tensorflow", "jax", "torch"])
def test_keras_file_moves_between_backends(tmp_path, source):
    """A .keras file written under `source` predicts the same here."""
    if source == keras.backend.backend():
        pytest.skip("same backend: covered by the round-trip test")
    paths = [tmp_path / n for n in ("m.keras", "preds.npy", "frames.npy")]
    env = {**os.environ, "KERAS_BACKEND": source, "PYTHONPATH": ROOT}
    subprocess.run(
        [sys.executable, "-c", CROSS_BACKEND_SCRIPT, *map(str, paths)],
        check=True,
        env=env,
        capture_output=True,
    )
    model = keras.saving.load_model(paths[0])
    here = np.asarray(model.predict(np.load(paths[2]), verbose=0))
    there = np.load(paths[1])
    difference = float(np.abs(here - there).max())
    record = os.environ.get("PREDRNN_CROSS_BACKEND_LOG")
    if record:
        with open(record, "a") as log:
            log.write(json.dumps({"from": source, "to": keras.backend.backend(), "max_abs_diff": difference}) + "\n")
    assert difference < 1e-5
