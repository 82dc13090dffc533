import numpy as np
import pytest

from predrnn_keras.layers import patch_frames
from predrnn_keras.layers import unpatch_frames
from tests import numpy_reference as ref
from tests.test_case import TestCase


class PatchingTest(TestCase):
    def test_exact_layout_on_hand_made_array(self):
        # One 4x4 single-channel frame holding its own pixel index.
        frame = np.arange(16, dtype="float32").reshape(1, 1, 4, 4, 1)
        patches = self.to_numpy(patch_frames(frame, 2))
        self.assertEqual(patches.shape, (1, 1, 2, 2, 4))
        # Patch (row 0, col 0) holds pixels (0,0) (0,1) (1,0) (1,1) in order.
        np.testing.assert_array_equal(patches[0, 0, 0, 0], [0, 1, 4, 5])
        np.testing.assert_array_equal(patches[0, 0, 0, 1], [2, 3, 6, 7])
        np.testing.assert_array_equal(patches[0, 0, 1, 0], [8, 9, 12, 13])
        np.testing.assert_array_equal(patches[0, 0, 1, 1], [10, 11, 14, 15])

    def test_channels_are_innermost(self):
        frame = np.arange(2 * 2 * 3, dtype="float32").reshape(1, 1, 2, 2, 3)
        patches = self.to_numpy(patch_frames(frame, 2))
        # (dy, dx, channel) order: pixel (0,0) channels, then pixel (0,1), ...
        np.testing.assert_array_equal(patches[0, 0, 0, 0], np.arange(12))

    def test_matches_reference_and_round_trips(self):
        rng = np.random.default_rng(0)
        frames = rng.random((2, 3, 8, 12, 2)).astype("float32")
        for p in (1, 2, 4):
            patches = self.to_numpy(patch_frames(frames, p))
            np.testing.assert_array_equal(patches, ref.patch(frames, p))
            restored = self.to_numpy(unpatch_frames(patches, p))
            np.testing.assert_array_equal(restored, frames)

    def test_not_a_multiple(self):
        frames = np.zeros((1, 2, 10, 8, 1), "float32")
        with pytest.raises(ValueError, match="height to be a multiple of patch_size=4. Received: height=10"):
            patch_frames(frames, 4)
        with pytest.raises(ValueError, match="patch_size=0"):
            patch_frames(frames, 0)
        with pytest.raises(ValueError, match="rank 5"):
            patch_frames(frames[0], 2)
