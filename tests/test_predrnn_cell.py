"""The whole recurrence against the NumPy re-derivation of SPEC 2-3."""

import keras
import numpy as np
from absl.testing import parameterized

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNCell
from predrnn_keras import SpatioTemporalRNN
from predrnn_keras.layers.conv import FeatureMapConv2D
from tests import numpy_reference as ref
from tests.test_case import TestCase
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
