"""The backend's fast paths ("auto") compute what plain Keras ops ("off") do.

Every fast path is an optimisation of the same arithmetic, so a model with
`fast_paths="auto"` and its twin with `"off"` and the same weights must
predict, lose and learn the same, on every backend, in both precisions.
"""

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNV2
from predrnn_keras import backends
from tests.test_case import TestCase


def twins(cls=PredRNNV2, dtype="float32", **kwargs):
    """`{"auto": model, "off": model}` with the same weights, built."""
    models = {}
    for setting in backends.FAST_PATHS:
        model = cls(
            num_hidden=[4, 4], filter_size=3, patch_size=2, input_length=3,
            r_sampling_step_1=2, r_sampling_step_2=4, r_exp_alpha=2.0,
            sampling_stop_iter=4, seed=3, dtype=dtype, fast_paths=setting,
            **kwargs,
        )
        model.build((None, 6, 8, 8, 2))
        models[setting] = model
    TestCase.randomize_weights(models["auto"], seed=4)
    models["off"].set_weights(models["auto"].get_weights())
    return models


def frames(seed=5):
    rng = np.random.default_rng(seed)
    return rng.random((4, 6, 8, 8, 2)).astype("float32")


# Float32 sums in another order; bfloat16 rounds the stacked sums once.
TOLERANCE = {"float32": 2e-5, "mixed_bfloat16": 3e-2}


class FastPathsTest(TestCase):
    @parameterized.named_parameters(
        ("predrnn_v2", PredRNNV2, "float32", False),
        ("predrnn", PredRNN, "float32", False),
        ("layer_norm", PredRNNV2, "float32", True),
        ("mixed_bfloat16", PredRNNV2, "mixed_bfloat16", False),
    )
    def test_predictions_and_decoupling_loss_agree(
        self, cls, dtype, layer_norm
    ):
        models = twins(cls, dtype, layer_norm=layer_norm)
        x = frames()
        results = {}
        for setting, model in models.items():
            predictions = self.to_numpy(model(x, training=False))
            losses = [self.to_numpy(loss) for loss in model.losses]
            rollout = model.predict_future(x[:, :3], horizon=5)
            results[setting] = predictions, losses, rollout
        tolerance = TOLERANCE[dtype]
        auto, off = results["auto"], results["off"]
        np.testing.assert_allclose(auto[0], off[0], atol=tolerance)
        self.assertEqual(len(auto[1]), len(off[1]))
        for got, want in zip(auto[1], off[1]):
            np.testing.assert_allclose(got, want, rtol=tolerance)
        np.testing.assert_allclose(auto[2], off[2], atol=tolerance)
        self.assertGreater(np.abs(off[0]).mean(), 1e-3)

    def test_training_agrees(self):
        # Two iterations of `fit` (each two optimiser steps, reverse input),
        # sampling masks included: the same losses and the same weights.
        # In float32: Adam turns bfloat16's rounding differences between
        # the two routes into steps of up to the learning rate.
        models = twins(PredRNNV2)
        x = frames(seed=6)
        initial = [np.asarray(w) for w in models["off"].get_weights()]
        histories, weights = {}, {}
        for setting, model in models.items():
            model.compile(optimizer=keras.optimizers.Adam(1e-2))
            history = model.fit(
                x, batch_size=2, epochs=1, shuffle=False, verbose=0
            )
            histories[setting] = history.history
            weights[setting] = [np.asarray(w) for w in model.get_weights()]
            self.assertEqual(int(model.sampling_step), 2)
        for name in ("loss", "mse", "decouple"):
            np.testing.assert_allclose(
                histories["auto"][name], histories["off"][name],
                rtol=TOLERANCE["float32"], err_msg=name,
            )
        # Float32 rounding in another order, through four Adam steps of
        # 1e-2: agreement to 1e-4, a quarter percent of the distance moved.
        for got, want in zip(weights["auto"], weights["off"]):
            np.testing.assert_allclose(got, want, atol=1e-4)
        # The kernels moved by about four steps of the learning rate.
        moved = [np.abs(w - s).max() for w, s in zip(weights["off"], initial)]
        self.assertGreater(max(moved), 1e-2)

    def test_the_setting_is_saved_and_a_file_loads_with_either(self):
        models = twins()
        x = frames(seed=7)
        path = self.get_temp_dir() + "/auto.keras"
        models["auto"].save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(loaded.fast_paths, "auto")
        self.assertEqual(loaded.cell.fast_paths, "auto")
        config = {**loaded.get_config(), "fast_paths": "off"}
        off = PredRNNV2.from_config(config)
        off.build((None, 6, 8, 8, 2))
        off.set_weights(loaded.get_weights())
        self.assertFalse(off.cell.st_lstm_layers[0].stacks_gate_convolutions())
        np.testing.assert_allclose(
            self.to_numpy(off(x)), self.to_numpy(loaded(x)), atol=2e-5
        )

    def test_a_file_without_the_setting_loads_as_auto(self):
        # Files written before the setting existed carry no such key.
        config = twins()["auto"].get_config()
        del config["fast_paths"]
        self.assertEqual(PredRNNV2.from_config(config).fast_paths, "auto")


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match=r"fast_paths='fast'"):
        PredRNNV2(num_hidden=[4], fast_paths="fast")
    with pytest.raises(ValueError, match=r"Expected `fast_paths` in"):
        backends.fast_paths("on")


def test_off_is_plain_keras_on_every_backend():
    off = backends.fast_paths("off")
    assert type(off) is backends.FastPaths
    assert not off.stacks_gate_convolutions
    auto = backends.fast_paths("auto")
    assert isinstance(auto, backends.FastPaths)
    assert auto.stacks_gate_convolutions
