"""Mixed precision ("mixed_bfloat16"): bfloat16 convolutions, float32 rest.

The layer tests compare with the NumPy re-derivation run two ways: with
every convolution rounded as bfloat16 hardware computes it (inputs, kernel
and result rounded to bfloat16) and in plain float64. A mixed layer must sit
on the first and visibly off the second; with the gate convolutions zeroed
the memory updates must be exact float32 arithmetic, which a bfloat16
memory path (an error of ~4e-3 relative) cannot be.
"""

import numpy as np
import pytest
from absl.testing import parameterized
from keras import ops

from predrnn_keras import PredRNNV2
from predrnn_keras import recipe_config
from predrnn_keras.layers import PredRNNCell
from predrnn_keras.layers import SpatioTemporalLSTM
from tests import numpy_reference as ref
from tests.test_case import TestCase
from tests.test_case import st_lstm_weights
from tests.workflow_helpers import kill_after_first_checkpoint
from tests.workflow_helpers import run_script
from tests.workflow_helpers import script
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

MIXED = "mixed_bfloat16"


def dtype_name(x):
    return str(ops.convert_to_numpy(x).dtype)


class MixedLayerTest(TestCase):
    def inputs(self, seed=1):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(2, 6, 5, 3)).astype("float32")
        h, c, m = (
            rng.normal(size=(2, 6, 5, 4)).astype("float32") for _ in range(3)
        )
        return x, h, c, m

    @parameterized.named_parameters(("stacked", True), ("separate", False))
    def test_convolutions_in_bfloat16_and_the_rest_in_float32(self, stacked):
        x, h, c, m = self.inputs()
        layer = SpatioTemporalLSTM(
            4, filter_size=3, dtype=MIXED,
            fast_paths="auto" if stacked else "off",
        )
        layer.build(x.shape, h.shape, c.shape, m.shape)
        self.randomize_weights(layer, seed=2)
        self.assertEqual(layer.conv_x.compute_dtype, "bfloat16")
        for weight in layer.weights:
            self.assertEqual(weight.dtype, "float32")
        outputs = [self.to_numpy(o) for o in layer(x, h, c, m)]
        weights = st_lstm_weights(layer)
        # Stacked, the layer rounds each sum of gate convolutions to
        # bfloat16 once; separate, each convolution.
        self.assertEqual(layer.stacks_gate_convolutions(), stacked)
        mixed = ref.st_lstm_step(
            x.astype("float64"), h, c, m, weights,
            conv=ref.conv2d_same_bfloat16, stacked_gates=stacked,
        )
        exact = ref.st_lstm_step(x.astype("float64"), h, c, m, weights)
        for name, got, want, full in zip(
            ("h", "c", "m", "delta_c", "delta_m"), outputs, mixed, exact
        ):
            self.assertEqual(got.dtype, np.float32, name)
            error = np.abs(got - want).mean()
            # bfloat16 rounding moves the outputs away from float64; the
            # bfloat16 re-derivation agrees far better (at most an
            # occasional last-bit difference in a rounded convolution).
            # Measured: ~1e-3 from float64, ~4e-8 from the bfloat16 one.
            self.assertGreater(np.abs(got - full).mean(), 3e-4, name)
            self.assertLess(error, 1e-2 * np.abs(got - full).mean(), name)
            np.testing.assert_allclose(got, want, atol=5e-2, err_msg=name)

    def test_memory_updates_are_float32(self):
        x, h, c, m = self.inputs(seed=3)
        # Values that bfloat16 cannot hold: 1 + k / 1000.
        c = (1.0 + np.arange(c.size).reshape(c.shape) % 97 / 1000).astype(
            "float32"
        )
        m = -c
        layer = SpatioTemporalLSTM(4, filter_size=3, dtype=MIXED)
        layer.build(x.shape, h.shape, c.shape, m.shape)
        self.randomize_weights(layer, seed=4)
        # Zero gate convolutions: i = 0.5, g = 0, f = sigmoid(forget_bias),
        # so c_new = f * c and m_new = f * m exactly, whatever bfloat16 does
        # to the convolutions.
        for conv in (layer.conv_x, layer.conv_h, layer.conv_m):
            conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
        _, c_new, m_new, delta_c, delta_m = layer(x, h, c, m)
        forget = np.float32(1.0 / (1.0 + np.exp(-1.0)))
        np.testing.assert_allclose(self.to_numpy(c_new), forget * c, rtol=1e-6)
        np.testing.assert_allclose(self.to_numpy(m_new), forget * m, rtol=1e-6)
        self.assertEqual(float(np.abs(self.to_numpy(delta_c)).max()), 0.0)
        self.assertEqual(float(np.abs(self.to_numpy(delta_m)).max()), 0.0)
        # What a bfloat16 memory would have given is far off.
        rounded = forget * ref.round_to_bfloat16(c)
        self.assertGreater(np.abs(rounded - forget * c).max(), 1e-3)

    def test_cell_states_and_decoupling_sum_are_float32(self):
        cell = PredRNNCell(
            [4, 4], output_channels=4, filter_size=3, decoupling=True,
            dtype=MIXED,
        )
        cell.build((2, 4, 4, 5))
        states = cell.get_initial_state(batch_size=2)
        self.assertEqual(
            {dtype_name(s) for s in states}, {"float32"}
        )
        rng = np.random.default_rng(5)
        inputs = rng.random((2, 4, 4, 5)).astype("float32")
        prediction, new_states = cell(inputs, states)
        self.assertEqual(dtype_name(prediction), "float32")
        self.assertEqual(
            {dtype_name(s) for s in new_states}, {"float32"}
        )
        self.assertGreater(float(self.to_numpy(new_states[-1]).min()), 0.0)


def tiny_v2(dtype, seed=0, **kwargs):
    model = PredRNNV2(
        num_hidden=[4, 4], filter_size=3, patch_size=2, input_length=3,
        r_sampling_step_1=2, r_sampling_step_2=4, r_exp_alpha=2.0,
        seed=seed, dtype=dtype, **kwargs,
    )
    model.build((None, 6, 8, 8, 1))
    return model


class MixedModelTest(TestCase):
    def test_predictions_follow_float32_closely(self):
        mixed, full = tiny_v2(MIXED), tiny_v2("float32")
        self.randomize_weights(full, seed=6)
        for a, b in zip(mixed.weights, full.weights):
            a.assign(b)
        rng = np.random.default_rng(7)
        frames = rng.random((2, 6, 8, 8, 1)).astype("float32")
        got = self.to_numpy(mixed(frames))
        want = self.to_numpy(full(frames))
        self.assertEqual(got.dtype, np.float32)
        difference = np.abs(got - want)
        self.assertGreater(difference.max(), 1e-4)  # bfloat16 is in use
        self.assertLess(difference.mean(), 2e-2 * np.abs(want).mean() + 1e-3)

    def test_fit_keeps_float32_weights_and_losses(self):
        model = tiny_v2(MIXED)
        model.compile(optimizer="adam")
        rng = np.random.default_rng(8)
        frames = rng.random((4, 6, 8, 8, 1)).astype("float32")
        history = model.fit(frames, batch_size=2, epochs=2, verbose=0)
        for name in ("loss", "mse", "decouple"):
            values = history.history[name]
            self.assertTrue(np.all(np.isfinite(values)), name)
        self.assertGreater(history.history["decouple"][-1], 0.0)
        self.assertEqual({w.dtype for w in model.weights} - {"int32", "uint32"},
                         {"float32"})
        self.assertEqual(int(self.to_numpy(model.sampling_step)), 4)
        # Adam's slots are float32 too (mixed_bfloat16 needs no loss scale).
        self.assertEqual(
            {v.dtype for v in model.optimizer.variables} - {"int64", "int32"},
            {"float32"},
        )

    def test_keras_file_keeps_the_policy(self):
        import keras

        model = tiny_v2(MIXED)
        self.randomize_weights(model, seed=9)
        path = self.get_temp_dir() + "/mixed.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(loaded.dtype_policy.name, MIXED)
        self.assertEqual(
            loaded.cell.st_lstm_layers[0].conv_x.compute_dtype, "bfloat16"
        )
        context = np.random.default_rng(10).random((2, 3, 8, 8, 1))
        np.testing.assert_array_equal(
            loaded.predict_future(context, 4), model.predict_future(context, 4)
        )


def test_recipe_precision_key():
    from predrnn_keras.hardware import auto_precision

    recipe = recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": "auto"})
    )
    assert recipe["train"]["precision"] == "auto"
    assert (
        recipe_config.build_model(recipe).dtype_policy.name
        == auto_precision()[0]
    )
    recipe = recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": "float32"})
    )
    assert recipe_config.build_model(recipe).dtype_policy.name == "float32"
    recipe = recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": MIXED})
    )
    assert recipe_config.build_model(recipe).dtype_policy.name == MIXED
    with pytest.raises(recipe_config.RecipeError, match="train.precision"):
        recipe_config.recipe_from_dict(tiny_recipe(train={"precision": "fp16"}))


def test_default_unroll_by_backend_and_precision():
    import keras

    from predrnn_keras import backends

    table = {
        ("jax", "float32"): True, ("jax", "bfloat16"): True,
        ("tensorflow", "float32"): False, ("tensorflow", "bfloat16"): True,
        ("torch", "float32"): False, ("torch", "bfloat16"): False,
    }
    backend = keras.backend.backend()
    for dtype in ("float32", "bfloat16"):
        paths = backends.fast_paths("auto")
        assert paths.default_unroll(dtype) is table[backend, dtype], dtype
        # Keras' default with the fast paths off.
        assert backends.fast_paths("off").default_unroll(dtype) is False
    for policy, dtype in ((MIXED, "bfloat16"), ("float32", "float32")):
        assert tiny_v2(policy).rnn.unroll is table[backend, dtype], policy
        assert tiny_v2(policy, fast_paths="off").rnn.unroll is False
        # An explicit choice wins, and the config keeps None as None.
        assert tiny_v2(policy, unroll=False).rnn.unroll is False
        assert tiny_v2(policy).get_config()["unroll"] is None


@pytest.mark.large
def test_train_resume_evaluate_and_export_in_mixed_precision(tmp_path):
    import keras

    path = write_recipe(
        tmp_path / "tiny.toml",
        tiny_recipe(train={"iterations": 12, "checkpoint_every": 1}),
    )
    run = tmp_path / "run"
    command = script(
        "train.py", path, "--run-dir", run, "--precision", MIXED, "--quiet"
    )
    state = kill_after_first_checkpoint(command, run)
    assert not state["finished"], "the run ended before the kill"
    # The same command resumes in mixed precision ...
    done = run_script(
        "train.py", path, "--run-dir", run, "--precision", MIXED,
    )
    assert done.returncode == 0, done.stderr
    assert f"Resuming {run} at iteration {state['iteration']}/12" in done.stdout
    assert 'precision = "mixed_bfloat16"' in (run / "recipe.toml").read_text()
    model = keras.saving.load_model(run / "last.keras")
    assert model.dtype_policy.name == MIXED
    assert int(ops.convert_to_numpy(model.sampling_step)) == 12
    # ... and one in another precision is refused, naming the key ("auto",
    # the default, keeps the precision a run started in).
    other = run_script("train.py", path, "--run-dir", run, "--precision",
                       "float32")
    assert other.returncode == 2
    assert "train.precision" in other.stderr
    assert "Traceback" not in other.stderr

    out = tmp_path / "eval"
    evaluated = run_script(
        "evaluate.py", run, "--out", out, "--export", tmp_path / "exported"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "mse" in evaluated.stdout.lower()
    assert list(out.glob("*.json")), sorted(p.name for p in out.iterdir())
    assert (tmp_path / "exported" / "saved_model.pb").exists()
