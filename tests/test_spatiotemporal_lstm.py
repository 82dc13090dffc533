import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras.layers import SpatioTemporalLSTM
from tests import numpy_reference as ref
from tests.test_case import TestCase
from tests.test_case import st_lstm_weights


class SpatioTemporalLSTMTest(TestCase):
    @parameterized.named_parameters(
        ("plain", False, 3, True),
        ("layer_norm", True, 3, True),
        ("kernel_5", False, 5, True),
        ("plain_unstacked", False, 3, False),
    )
    def test_correctness(self, layer_norm, filter_size, stacked):
        # "auto" stacks the gate convolutions on every backend, "off" never.
        rng = np.random.default_rng(1)
        x = rng.normal(size=(2, 6, 5, 3)).astype("float32")
        h, c, m = (
            rng.normal(size=(2, 6, 5, 4)).astype("float32") for _ in range(3)
        )
        layer = SpatioTemporalLSTM(
            4, filter_size=filter_size, layer_norm=layer_norm,
            fast_paths="auto" if stacked else "off",
        )
        layer.build(x.shape, h.shape, c.shape, m.shape)
        self.randomize_weights(layer, seed=2)
        self.assertEqual(
            layer.stacks_gate_convolutions(), stacked and not layer_norm
        )
        outputs = layer(x, h, c, m)
        expected = ref.st_lstm_step(
            x.astype("float64"), h, c, m, st_lstm_weights(layer)
        )
        names = ("h", "c", "m", "delta_c", "delta_m")
        for name, got, want in zip(names, outputs, expected):
            np.testing.assert_allclose(
                self.to_numpy(got), want, atol=1e-5, rtol=1e-5, err_msg=name
            )

    @parameterized.named_parameters(
        ("float32", "float32", 1e-5), ("mixed_bfloat16", "mixed_bfloat16", 2e-2)
    )
    def test_stacked_gates_equal_the_separate_convolutions(self, policy, rtol):
        # The same outputs, and the same gradients for every kernel and
        # input, whether the gate sums are two stacked convolutions or the
        # three convolutions split and added.
        rng = np.random.default_rng(4)
        x, h, c, m = (
            keras.ops.convert_to_tensor(
                rng.normal(size=(2, 6, 5, channels)).astype("float32")
            )
            for channels in (3, 4, 4, 4)
        )
        layers = {}
        for fast_paths in ("auto", "off"):
            layer = SpatioTemporalLSTM(
                4, filter_size=3, dtype=policy, fast_paths=fast_paths
            )
            layer.build(x.shape, h.shape, c.shape, m.shape)
            self.randomize_weights(layer, seed=5)
            layers[fast_paths] = layer
        self.assertTrue(layers["auto"].stacks_gate_convolutions())
        self.assertFalse(layers["off"].stacks_gate_convolutions())
        rows = rng.normal(size=(5, 4)).astype("float32")

        def run(stacked):
            layer = layers["auto" if stacked else "off"]
            weights = [conv.kernel for conv in layer.convolutions()]
            outputs = [
                self.to_numpy(keras.ops.cast(t, "float32"))
                for t in layer(x, h, c, m)
            ]

            def loss():
                # A weighted sum of all five outputs.
                results = layer(x, h, c, m)
                return sum(
                    keras.ops.sum(
                        keras.ops.cast(t, "float32") * keras.ops.cast(w, "float32")
                    )
                    for t, w in zip(results, rows)
                )

            return outputs, self.gradients(loss, weights)

        stacked, separate = run(True), run(False)
        for got, want in zip(stacked[0], separate[0]):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        for got, want in zip(stacked[1], separate[1]):
            self.assertGreater(np.abs(want).sum(), 0)
            np.testing.assert_allclose(
                got, want, rtol=rtol, atol=rtol * np.abs(want).max()
            )

    def test_forget_bias_is_used(self):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(1, 4, 4, 2)).astype("float32")
        h, c, m = (
            rng.normal(size=(1, 4, 4, 3)).astype("float32") for _ in range(3)
        )
        layer = SpatioTemporalLSTM(3, filter_size=3, forget_bias=0.0)
        layer.build(x.shape, h.shape, c.shape, m.shape)
        self.randomize_weights(layer)
        got = self.to_numpy(layer(x, h, c, m)[1])
        want = ref.st_lstm_step(
            x.astype("float64"), h, c, m, st_lstm_weights(layer), 0.0
        )[1]
        np.testing.assert_allclose(got, want, atol=1e-5)
        wrong = ref.st_lstm_step(
            x.astype("float64"), h, c, m, st_lstm_weights(layer), 1.0
        )[1]
        self.assertGreater(np.abs(got - wrong).max(), 1e-3)

    @parameterized.named_parameters(("plain", False, 5), ("layer_norm", True, 13))
    def test_layer_basics(self, layer_norm, num_weights):
        self.run_layer_test(
            SpatioTemporalLSTM,
            init_kwargs={"filters": 4, "filter_size": 3, "layer_norm": layer_norm},
            input_shape={
                "x_shape": (2, 6, 6, 3),
                "h_shape": (2, 6, 6, 4),
                "c_shape": (2, 6, 6, 4),
                "m_shape": (2, 6, 6, 4),
            },
            expected_output_shape=((2, 6, 6, 4),) * 5,
            expected_num_trainable_weights=num_weights,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            run_training_check=False,
            run_mixed_precision_check=False,
        )

    def test_kernel_shapes(self):
        layer = SpatioTemporalLSTM(8, filter_size=5)
        layer.build((None, 16, 16, 3))
        shapes = {
            name: tuple(getattr(layer, f"conv_{name}").kernel.shape)
            for name in ("x", "h", "m", "o", "last")
        }
        self.assertEqual(
            shapes,
            {
                "x": (5, 5, 3, 56),
                "h": (5, 5, 8, 32),
                "m": (5, 5, 8, 24),
                "o": (5, 5, 16, 8),
                "last": (1, 1, 16, 8),
            },
        )
        self.assertFalse(any("bias" in w.path for w in layer.weights))

    def test_layer_norm_parameters_have_full_shape(self):
        layer = SpatioTemporalLSTM(4, filter_size=3, layer_norm=True)
        layer.build((None, 6, 5, 2))
        self.assertEqual(tuple(layer.norm_x.gamma.shape), (6, 5, 28))
        self.assertEqual(tuple(layer.norm_o.beta.shape), (6, 5, 4))
        self.assertEqual(layer.norm_h.epsilon, 1e-5)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="filters=-3"):
            SpatioTemporalLSTM(-3)
        with pytest.raises(ValueError, match="filter_size=0"):
            SpatioTemporalLSTM(4, filter_size=0)
        layer = SpatioTemporalLSTM(4)
        with pytest.raises(ValueError, match="Expected `h` with 4 channels"):
            layer.build((None, 6, 6, 2), (None, 6, 6, 5))
