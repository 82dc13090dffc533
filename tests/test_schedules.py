import math

import numpy as np
import pytest

from predrnn_keras.models import schedules
from tests.test_case import TestCase

CONSTANTS = {
    "sampling_start_value": 1.0,
    "sampling_changing_rate": 2e-5,
    "sampling_stop_iter": 50000,
    "r_sampling_step_1": 25000,
    "r_sampling_step_2": 50000,
    "r_exp_alpha": 2500.0,
}


def spec_eta(itr, start=1.0, rate=2e-5, stop=50000):
    """eta decreases by `rate` per iteration until `stop`, then 0."""
    return max(start - rate * itr, 0.0) if itr < stop else 0.0


def spec_reverse(itr, s1=25000, s2=50000, alpha=2500.0):
    if itr < s1:
        return 0.5, 0.5
    if itr < s2:
        r_eta = 1.0 - 0.5 * math.exp(-(itr - s1) / alpha)
        eta = 0.5 - (0.5 / (s2 - s1)) * (itr - s1)
        return r_eta, eta
    return 1.0, 0.0


class SchedulesTest(TestCase):
    def test_scheduled_sampling_at_named_iterations(self):
        expected = {
            0: 1.0,
            1: 0.99998,
            25000: 0.5,
            49999: 2e-5,
            50000: 0.0,
            80000: 0.0,
        }
        for itr, want in expected.items():
            got = float(self.to_numpy(schedules.scheduled_sampling_eta(itr)))
            self.assertAlmostEqual(got, want, decimal=6, msg=f"itr={itr}")
            self.assertAlmostEqual(got, spec_eta(itr), decimal=6)

    def test_scheduled_sampling_never_negative(self):
        got = schedules.scheduled_sampling_eta(
            900, start_value=0.5, changing_rate=1e-3, stop_iter=1000
        )
        self.assertEqual(float(self.to_numpy(got)), 0.0)

    def test_reverse_sampling_at_named_iterations(self):
        named = {
            "start": 0,
            "before_step_1": 24999,
            "step_1": 25000,
            "one_alpha_in": 27500,
            "midway": 37500,
            "just_before_step_2": 49999,
            "step_2": 50000,
            "beyond": 80000,
        }
        for name, itr in named.items():
            r_eta, eta = schedules.reverse_sampling_probabilities(itr)
            want_r, want = spec_reverse(itr)
            self.assertAlmostEqual(
                float(self.to_numpy(r_eta)), want_r, decimal=5, msg=name
            )
            self.assertAlmostEqual(
                float(self.to_numpy(eta)), want, decimal=5, msg=name
            )
        # Values written out by hand from the formulas of docs/method.md.
        r_eta, eta = schedules.reverse_sampling_probabilities(27500)
        self.assertAlmostEqual(float(self.to_numpy(r_eta)), 1 - 0.5 / math.e, decimal=5)
        self.assertAlmostEqual(float(self.to_numpy(eta)), 0.45, decimal=5)
        r_eta, eta = schedules.reverse_sampling_probabilities(37500)
        self.assertAlmostEqual(float(self.to_numpy(eta)), 0.25, decimal=5)

    def test_kth_reverse_constants(self):
        r_eta, eta = schedules.reverse_sampling_probabilities(
            7000, step_1=5000, step_2=50000, exp_alpha=2000
        )
        self.assertAlmostEqual(
            float(self.to_numpy(r_eta)), 1 - 0.5 * math.exp(-1.0), decimal=5
        )
        self.assertAlmostEqual(
            float(self.to_numpy(eta)), 0.5 - 0.5 * 2000 / 45000, decimal=5
        )

    def test_scheduled_probabilities_per_step(self):
        probs = self.to_numpy(
            schedules.true_frame_probabilities(
                25000, 19, 10, "scheduled", **CONSTANTS
            )
        )
        self.assertEqual(probs.shape, (19,))
        np.testing.assert_allclose(probs[:10], 1.0)
        np.testing.assert_allclose(probs[10:], 0.5, atol=1e-6)

    def test_reverse_probabilities_per_step(self):
        probs = self.to_numpy(
            schedules.true_frame_probabilities(
                37500, 19, 10, "reverse", **CONSTANTS
            )
        )
        want_r, want = spec_reverse(37500)
        self.assertEqual(probs[0], 1.0)
        np.testing.assert_allclose(probs[1:10], want_r, atol=1e-6)
        np.testing.assert_allclose(probs[10:], want, atol=1e-6)

    def test_no_sampling_is_the_test_regime(self):
        probs = self.to_numpy(
            schedules.true_frame_probabilities(5, 19, 10, "none", **CONSTANTS)
        )
        np.testing.assert_array_equal(probs, [1.0] * 10 + [0.0] * 9)

    def test_unknown_mode(self):
        with pytest.raises(ValueError, match="mode='teacher'"):
            schedules.true_frame_probabilities(1, 19, 10, "teacher")

    def test_sampling_mask(self):
        uniform = np.array([[0.1, 0.6, 0.3], [0.9, 0.2, 0.7]], "float32")
        probs = np.array([1.0, 0.5, 0.3], "float32")
        mask = self.to_numpy(schedules.sampling_mask(uniform, probs))
        np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 0]])

    def test_test_mask(self):
        mask = self.to_numpy(schedules.test_mask(3, 19, 10))
        self.assertEqual(mask.shape, (3, 19))
        np.testing.assert_array_equal(mask[:, :10], 1.0)
        np.testing.assert_array_equal(mask[:, 10:], 0.0)
