"""The whole recurrence against its NumPy re-derivation (docs/method.md)."""

from unittest import mock

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNCell
from predrnn_keras import SpatioTemporalRNN
from predrnn_keras import backends
from predrnn_keras.layers import SpatioTemporalLSTM
from predrnn_keras.layers.conv import FeatureMapConv2D
from predrnn_keras.layers.conv import StackedConvolution
from tests import numpy_reference as ref
from tests.test_case import TestCase
from tests.test_case import kernel_gradient_calls
from tests.test_case import st_lstm_weights


def build_model(decouple_beta, layer_norm, frame_shape=(8, 8, 1), **kwargs):
    model = PredRNN(
        num_hidden=[4, 4],
        filter_size=3,
        patch_size=2,
        layer_norm=layer_norm,
        input_length=2,
        decouple_beta=decouple_beta,
        seed=0,
        **kwargs,
    )
    model.build((None, None) + frame_shape)
    return model


def reference_outputs(model, frames, mask, zigzag=True):
    cell = model.cell
    layers = [st_lstm_weights(layer) for layer in cell.st_lstm_layers]
    head = TestCase.to_numpy(cell.head.kernel)
    adapter = None
    if cell.adapter is not None:
        adapter = TestCase.to_numpy(cell.adapter.kernel)
    return ref.predrnn_forward(
        frames, mask, layers, head, model.patch_size, adapter, zigzag
    )


class SequenceTest(TestCase):
    @parameterized.named_parameters(
        ("predrnn", 0.0, False, (8, 8, 1)),
        ("predrnn_v2", 0.1, False, (8, 8, 1)),
        ("v2_layer_norm", 0.1, True, (8, 8, 1)),
        ("rgb_non_square", 0.1, False, (4, 8, 3)),
    )
    def test_sequence_matches_numpy(self, beta, layer_norm, frame_shape):
        rng = np.random.default_rng(4)
        frames = rng.random((2, 5) + frame_shape).astype("float32")
        # Mixed true/generated inputs: the feedback path is exercised.
        mask = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], "float32")
        model = build_model(beta, layer_norm, frame_shape)
        self.randomize_weights(model, seed=5)
        got = self.to_numpy(model({"frames": frames, "mask": mask}))
        want, decouple = reference_outputs(model, frames, mask)
        self.assertEqual(got.shape, (2, 4) + frame_shape)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
        if beta:
            self.assertLen(model.losses, 1)
            self.assertAlmostEqual(
                float(self.to_numpy(model.losses[0])), decouple, decimal=5
            )
        else:
            self.assertLen(model.losses, 0)

    def test_memory_takes_the_zigzag_path(self):
        rng = np.random.default_rng(6)
        frames = rng.random((2, 5, 8, 8, 1)).astype("float32")
        mask = np.ones((2, 4), "float32")
        model = build_model(0.0, False)
        self.randomize_weights(model, seed=7)
        got = self.to_numpy(model({"frames": frames, "mask": mask}))
        zigzag, _ = reference_outputs(model, frames, mask, zigzag=True)
        no_zigzag, _ = reference_outputs(model, frames, mask, zigzag=False)
        np.testing.assert_allclose(got, zigzag, atol=1e-5)
        # Step 0 cannot tell; from step 1 on the carried memory matters.
        np.testing.assert_allclose(got[:, 0], no_zigzag[:, 0], atol=1e-5)
        self.assertGreater(np.abs(got[:, 1:] - no_zigzag[:, 1:]).max(), 1e-3)

    def test_default_mask_is_the_test_mask(self):
        rng = np.random.default_rng(8)
        frames = rng.random((2, 5, 8, 8, 1)).astype("float32")
        model = build_model(0.0, False)
        self.randomize_weights(model, seed=9)
        got = self.to_numpy(model(frames))
        test_mask = np.array([[1, 1, 0, 0]] * 2, "float32")
        want, _ = reference_outputs(model, frames, test_mask)
        np.testing.assert_allclose(got, want, atol=1e-5)
        # Generated inputs do not look at the true frames after the context.
        altered = frames.copy()
        altered[:, 2:] = 0.0
        np.testing.assert_allclose(
            self.to_numpy(model(altered)), got, atol=1e-6
        )

    def test_cell_protocol(self):
        cell = PredRNNCell([4, 4, 4], output_channels=4, filter_size=3)
        self.assertEqual(cell.state_size, [4] * 7 + [4, 1])
        self.assertEqual(cell.output_size, 4)
        cell.build((None, 6, 5, 5))
        states = cell.get_initial_state(batch_size=3)
        self.assertLen(states, 9)
        self.assertEqual(tuple(states[0].shape), (3, 6, 5, 4))
        self.assertEqual(tuple(states[-1].shape), (3,))
        rnn = SpatioTemporalRNN(cell, return_sequences=True)
        inputs = keras.Input((7, 6, 5, 5))
        self.assertEqual(tuple(rnn(inputs).shape), (None, 7, 6, 5, 4))
        rnn_states = SpatioTemporalRNN(
            PredRNNCell([4], 4, 3), return_state=True
        )
        shapes = rnn_states.compute_output_shape((2, 7, 6, 5, 5))
        self.assertEqual(shapes[0], (2, 6, 5, 4))
        self.assertEqual(shapes[-1], (2,))

    def test_convolutions_lists_every_convolution(self):
        for decoupling in (False, True):
            cell = PredRNNCell(
                [4, 4], output_channels=4, filter_size=3, decoupling=decoupling
            )
            cell.build((None, 6, 5, 5))
            found = [
                layer
                for layer in cell._flatten_layers(include_self=False)
                if isinstance(layer, FeatureMapConv2D)
            ]
            self.assertLen(found, 2 * 5 + 1 + int(decoupling))
            self.assertCountEqual(
                [id(layer) for layer in cell.convolutions()],
                [id(layer) for layer in found],
            )

    def test_step_convolutions_stack_the_gates_without_layer_norm(self):
        # A fast path of every backend; never with fast_paths="off".
        self.assertTrue(
            SpatioTemporalLSTM(4, filter_size=3).stacks_gate_convolutions()
        )
        self.assertFalse(
            SpatioTemporalLSTM(
                4, filter_size=3, layer_norm=True
            ).stacks_gate_convolutions()
        )
        self.assertFalse(
            SpatioTemporalLSTM(
                4, filter_size=3, fast_paths="off"
            ).stacks_gate_convolutions()
        )
        off = PredRNNCell([4, 4], output_channels=4, fast_paths="off")
        off.build((None, 6, 5, 5))
        self.assertEqual(
            [id(conv) for conv in off.step_convolutions()],
            [id(conv) for conv in off.convolutions()],
        )
        for layer_norm in (False, True):
            cell = PredRNNCell(
                [4, 4], output_channels=4, filter_size=3,
                layer_norm=layer_norm, decoupling=True,
            )
            cell.build((None, 6, 5, 5))
            want = []
            for layer in cell.st_lstm_layers:
                gates = [layer.conv_x, layer.conv_h, layer.conv_m]
                if not layer_norm:
                    gates = [layer.gates_xh, layer.gates_xm]
                want += gates + [layer.conv_o, layer.conv_last]
            want += [cell.head, cell.adapter]
            self.assertEqual(
                [id(conv) for conv in cell.step_convolutions()],
                [id(conv) for conv in want],
            )

    def test_cell_serialization(self):
        cell = PredRNNCell(
            [8, 8], output_channels=16, filter_size=5, decoupling=True
        )
        self.run_class_serialization_test(cell)
        self.run_class_serialization_test(
            SpatioTemporalRNN(cell, return_sequences=True, unroll=True)
        )

    def test_unequal_hidden_sizes(self):
        with self.assertRaisesRegex(ValueError, "equal hidden sizes"):
            PredRNNCell([8, 4], output_channels=4)


def _rnn_and_sequence(policy, decoupling=True):
    cell = PredRNNCell(
        [4, 4], output_channels=4, filter_size=3, decoupling=decoupling,
        dtype=policy,
    )
    # Unrolled on JAX, whose scan would trace one step for all frames.
    rnn = SpatioTemporalRNN(
        cell, return_sequences=True, dtype=policy,
        unroll=keras.backend.backend() == "jax",
    )
    x = np.random.default_rng(11).random((2, 4, 6, 5, 5)).astype("float32")
    rnn.build(x.shape)
    TestCase.randomize_weights(rnn, seed=12)
    return rnn, x


def _fast_paths_off(rnn, x):
    """A copy of `rnn` with the same weights and `fast_paths="off"`."""
    cell = PredRNNCell.from_config(
        {**rnn.cell.get_config(), "fast_paths": "off"}
    )
    twin = SpatioTemporalRNN(
        cell, return_sequences=rnn.return_sequences, dtype=rnn.dtype_policy,
        unroll=rnn.unroll,
    )
    twin.build(x.shape)
    twin.set_weights(rnn.get_weights())
    assert not cell.st_lstm_layers[0].stacks_gate_convolutions()
    return twin


def _kernel_gradients(rnn, x):
    """d sum(outputs^2) / d kernel of every convolution, float32 NumPy."""
    kernels = [layer.kernel for layer in rnn.cell.convolutions()]

    def loss():
        outputs = keras.ops.cast(rnn(x), "float32")
        return keras.ops.sum(keras.ops.square(outputs))

    return TestCase.gradients(loss, kernels)


def _assert_gradients_close(got, want, rtol):
    """Pairwise equal gradient lists, within `rtol` of each one's largest."""
    assert len(got) == len(want)
    for got_one, want_one in zip(got, want):
        got_one, want_one = np.asarray(got_one), np.asarray(want_one)
        assert np.abs(want_one).sum() > 0
        np.testing.assert_allclose(
            got_one, want_one, rtol=rtol, atol=rtol * np.abs(want_one).max()
        )


@pytest.mark.parametrize(
    "policy, rtol", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)]
)
def test_rnn_prepares_each_kernel_once_per_sequence(policy, rtol):
    rnn, x = _rnn_and_sequence(policy)
    # The stacked gate convolutions, conv_o, conv_last, head and adapter.
    convolutions = rnn.cell.step_convolutions()
    assert len(convolutions) == 2 * 4 + 2
    calls = []

    def counting(prepare):
        def prepared_kernel(layer):
            calls.append(id(layer))
            return prepare(layer)

        return prepared_kernel

    with mock.patch.object(
        FeatureMapConv2D, "prepared_kernel",
        counting(FeatureMapConv2D.prepared_kernel),
    ), mock.patch.object(
        StackedConvolution, "prepared_kernel",
        counting(StackedConvolution.prepared_kernel),
    ):
        reused = TestCase.to_numpy(keras.ops.cast(rnn(x), "float32"))
        assert sorted(calls) == sorted(id(layer) for layer in convolutions)
        calls.clear()
        # With the fast paths off, every step prepares every kernel again
        # (the eager loop runs the step at least once per frame).
        off = _fast_paths_off(rnn, x)
        calls.clear()
        per_step = TestCase.to_numpy(keras.ops.cast(off(x), "float32"))
        for layer in off.cell.convolutions():
            assert calls.count(id(layer)) >= x.shape[1], layer.name
    np.testing.assert_allclose(reused, per_step, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "policy, rtol", [("float32", 1e-5), ("mixed_bfloat16", 3e-2)]
)
def test_reused_kernels_sum_the_gradient_of_every_step(policy, rtol):
    # Without the decoupling adapter, whose output is not in `outputs`.
    rnn, x = _rnn_and_sequence(policy, decoupling=False)
    reused = _kernel_gradients(rnn, x)
    per_step = _kernel_gradients(_fast_paths_off(rnn, x), x)
    assert len(reused) == len(rnn.cell.convolutions())
    # Under mixed precision the steps' gradients are summed in bfloat16 (8
    # significant bits) rather than float32.
    _assert_gradients_close(reused, per_step, rtol)


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="PyTorch's own time loop"
)
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_torch_loop_matches_keras_loop(policy):
    rnn, x = _rnn_and_sequence(policy)
    rnn.return_state = True
    kernels = [layer.kernel for layer in rnn.cell.convolutions()]

    def run():
        outputs = [keras.ops.cast(t, "float32") for t in rnn(x)]
        # Every output and state, the decoupling sum (the adapter's only
        # use) included, reaches the loss. In training, where mixed
        # precision batches the kernel gradients.
        gradients = TestCase.gradients(
            lambda: sum(
                keras.ops.sum(keras.ops.square(keras.ops.cast(t, "float32")))
                for t in rnn(x, training=True)
            ),
            kernels,
        )
        return [TestCase.to_numpy(t) for t in outputs], gradients

    # The plain loop calls the built cell's `call`, never `__call__`.
    with mock.patch.object(
        PredRNNCell, "__call__", side_effect=AssertionError("__call__")
    ):
        plain, plain_gradients = run()
    # Keras' loop, with the same kernels prepared for the sequence.
    with mock.patch.object(
        type(rnn.paths), "time_loop", lambda *args: None
    ):
        with mock.patch.object(
            PredRNNCell, "__call__", autospec=True,
            side_effect=keras.layers.Layer.__call__,
        ) as keras_calls:
            loop, loop_gradients = run()
        assert keras_calls.call_count >= 2 * x.shape[1]
    # Outputs, the states h, c, m, the last prediction and the decoupling
    # sum; then the gradient of every kernel.
    assert len(plain) == len(loop) == 1 + 2 * 2 + 3
    assert len(plain_gradients) == len(kernels) == 2 * 5 + 2
    for got, want in zip(plain, loop):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    for got, want in zip(plain_gradients, loop_gradients):
        assert np.abs(np.asarray(want)).sum() > 0
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="only a TensorFlow graph traces an unknown number of frames",
)
def test_unrolled_rnn_runs_a_rolled_loop_for_an_unknown_length():
    import tensorflow as tf

    cell = PredRNNCell([4, 4], output_channels=4, filter_size=3)
    unrolled = SpatioTemporalRNN(cell, return_sequences=True, unroll=True)
    rolled = SpatioTemporalRNN(cell, return_sequences=True, unroll=False)
    x = np.random.default_rng(13).random((2, 4, 6, 5, 5)).astype("float32")
    unrolled.build(x.shape)
    TestCase.randomize_weights(unrolled, seed=14)
    spec = tf.TensorSpec((None, None, 6, 5, 5), "float32")
    got = tf.function(unrolled, input_signature=[spec])(x)
    np.testing.assert_allclose(got, rolled(x), atol=1e-6)
    np.testing.assert_allclose(unrolled(x), rolled(x), atol=1e-6)
    # The layer's setting is unchanged: known lengths are unrolled.
    assert unrolled.unroll is True
    assert unrolled.get_config()["unroll"] is True
    assert not isinstance(getattr(SpatioTemporalRNN, "unroll", None), property)
    # Keras' own RNN refuses the same call.
    plain = keras.layers.RNN(cell, return_sequences=True, unroll=True)
    with pytest.raises(ValueError, match="Cannot unroll"):
        tf.function(plain, input_signature=[spec])(x)


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="kernel gradients are batched on TensorFlow and PyTorch",
)
@pytest.mark.parametrize(
    "policy, rtol", [("float32", 1e-5), ("mixed_bfloat16", 3e-2)]
)
def test_training_computes_each_kernel_gradient_once(policy, rtol):
    backend = keras.backend.backend()
    model = PredRNN(
        num_hidden=[4, 4], filter_size=3, patch_size=1, input_length=3,
        decouple_beta=0.5, dtype=policy,
        # TensorFlow batches in an unrolled loop; PyTorch in its own.
        unroll=True if backend == "tensorflow" else None,
    )
    frames = np.random.default_rng(15).random((2, 6, 5, 5, 3))
    frames = keras.ops.convert_to_tensor(frames.astype("float32"))
    model.build(frames.shape)
    TestCase.randomize_weights(model, seed=16)
    kernels = [layer.kernel for layer in model.cell.convolutions()]
    # What the steps convolve with: the stacked gate convolutions, conv_o,
    # conv_last, the head and the adapter.
    convolutions = model.cell.step_convolutions()

    def loss(training):
        def value():
            predictions = model(frames, training=training)
            error = keras.ops.square(predictions - frames[:, 1:])
            return keras.ops.mean(error) + 0.5 * keras.ops.sum(model.losses)

        return value

    compiled = backend == "tensorflow"
    with kernel_gradient_calls() as calls:
        batched = TestCase.gradients(loss(True), kernels, compiled)
        # Each kernel's gradient once, from all its convolutions: one per
        # step (five), two per layer and step for the shared adapter; in
        # bfloat16 only (`FastPaths.batches_kernel_gradients`).
        steps = {id(layer): 5 for layer in convolutions}
        steps[id(model.cell.adapter)] = 2 * 2 * 5
        if policy == "float32":
            steps = {}
        counts = [(id(layer), len(indices)) for layer, indices in calls]
        assert sorted(counts) == sorted(steps.items())
        calls.clear()
        per_step = TestCase.gradients(loss(False), kernels, compiled)
        assert calls == []
    _assert_gradients_close(batched, per_step, rtol)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="only a TensorFlow graph traces an unknown number of frames",
)
def test_unrolled_training_of_an_unknown_length_takes_per_step_gradients():
    import tensorflow as tf

    from predrnn_keras.backends.tensorflow import (
        TensorFlowBatchedKernelGradient as BatchedKernelGradient,
    )

    policy = "mixed_bfloat16"
    cell = PredRNNCell(
        [4, 4], output_channels=4, filter_size=3, dtype=policy
    )
    rnn = SpatioTemporalRNN(
        cell, return_sequences=True, unroll=True, dtype=policy
    )
    x = np.random.default_rng(17).random((2, 4, 6, 5, 5)).astype("float32")
    rnn.build(x.shape)
    TestCase.randomize_weights(rnn, seed=18)
    kernels = [layer.kernel.value for layer in cell.convolutions()]

    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(rnn(x, training=True)))
        return tape.gradient(loss, kernels)

    spec = tf.TensorSpec((None, None, 6, 5, 5), "float32")
    gate = BatchedKernelGradient.gate
    with mock.patch.object(
        BatchedKernelGradient, "gate", autospec=True, side_effect=gate
    ) as spy:
        # The rolled fallback's steps live inside the loop: no batching.
        rolled = tf.function(gradients, input_signature=[spec])(x)
        assert spy.call_count == 0
        # A known length is unrolled and batched.
        unrolled = tf.function(gradients)(x)
        assert spy.call_count == len(cell.step_convolutions())
    _assert_gradients_close(rolled, unrolled, rtol=3e-2)


def test_kernel_gradients_are_batched_in_bfloat16_where_measured():
    # TensorFlow in an unrolled loop, PyTorch in its own; never JAX, never
    # in float32, never with the fast paths off.
    batched = {
        "tensorflow": {(True, "bfloat16")},
        "torch": {(True, "bfloat16"), (False, "bfloat16")},
        "jax": set(),
    }[keras.backend.backend()]
    for setting in backends.FAST_PATHS:
        paths = backends.fast_paths(setting)
        for unrolled in (True, False):
            for dtype in ("bfloat16", "float32"):
                want = setting == "auto" and (unrolled, dtype) in batched
                got = paths.batches_kernel_gradients(dtype, unrolled)
                assert got == want, (setting, unrolled, dtype)
