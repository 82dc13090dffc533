"""Sampling schedules and input masks.

docs/method.md, "Scheduled sampling" and "Reverse scheduled sampling".

A mask has shape `(batch, steps)` with `steps = total_length - 1`: entry
`[b, t]` is 1 where the network input at step `t` is the true frame `t` and 0
where it is the model's own prediction of that frame, so that
`input_t = mask * frame_t + (1 - mask) * pred_{t-1}`. Step 0 always takes the
true frame (there is no earlier prediction).

All functions take Python numbers or tensors for the iteration and return
tensors, so the model evaluates them inside compiled train steps while tests
and callbacks evaluate them on plain integers.
"""

from keras import ops

SAMPLING_MODES = ("scheduled", "reverse", "none")


def scheduled_sampling_eta(
    iteration,
    start_value=1.0,
    changing_rate=2e-5,
    stop_iter=50000,
):
    """Probability of the true frame in PredRNN's scheduled sampling.

    `eta = start_value - changing_rate * iteration` while
    `iteration < stop_iter` (never below 0), then 0. Iterations count from 1
    for the first training step, as in the reference training loop.
    """
    itr = ops.cast(iteration, "float32")
    eta = ops.maximum(start_value - changing_rate * itr, 0.0)
    return ops.where(itr < stop_iter, eta, 0.0)


def reverse_sampling_probabilities(
    iteration,
    step_1=25000,
    step_2=50000,
    exp_alpha=2500.0,
):
    """PredRNN-V2's reverse scheduled sampling probabilities.

    Returns `(r_eta, eta)`: the probability of the true frame at the encoder
    steps `1 .. input_length - 1` and at the decoder steps
    `input_length .. total_length - 2`.

    - `r_eta` is 0.5 before `step_1`, then
      `1 - 0.5 * exp(-(iteration - step_1) / exp_alpha)` until `step_2`, then 1.
    - `eta` is 0.5 before `step_1`, falls linearly to 0 at `step_2`, then 0.
    """
    itr = ops.cast(iteration, "float32")
    before = itr < step_1
    after = itr >= step_2
    r_eta = 1.0 - 0.5 * ops.exp(-(itr - step_1) / float(exp_alpha))
    r_eta = ops.where(before, 0.5, ops.where(after, 1.0, r_eta))
    eta = 0.5 - (0.5 / (step_2 - step_1)) * (itr - step_1)
    eta = ops.where(before, 0.5, ops.where(after, 0.0, eta))
    return r_eta, eta


def true_frame_probabilities(iteration, steps, input_length, mode, **constants):
    """Per-step probability `(steps,)` that the input is the true frame.

    Args:
        iteration: the training iteration (1 for the first step).
        steps: number of network steps, `total_length - 1`.
        input_length: number of context frames.
        mode: "scheduled" (PredRNN), "reverse" (PredRNN-V2) or "none"
            (context true, every later input generated, as at test time).
        **constants: the schedule constants (`sampling_start_value`,
            `sampling_changing_rate`, `sampling_stop_iter`,
            `r_sampling_step_1`, `r_sampling_step_2`, `r_exp_alpha`).
    """
    t = ops.arange(steps)
    context = ops.cast(t < input_length, "float32")
    if mode == "none":
        return context
    if mode == "scheduled":
        eta = scheduled_sampling_eta(
            iteration,
            constants["sampling_start_value"],
            constants["sampling_changing_rate"],
            constants["sampling_stop_iter"],
        )
        return ops.where(t < input_length, 1.0, eta)
    if mode == "reverse":
        r_eta, eta = reverse_sampling_probabilities(
            iteration,
            constants["r_sampling_step_1"],
            constants["r_sampling_step_2"],
            constants["r_exp_alpha"],
        )
        probs = ops.where(t < input_length, r_eta, eta)
        return ops.where(t == 0, 1.0, probs)
    raise ValueError(
        f"Expected `mode` in {SAMPLING_MODES}. Received: mode={mode!r}"
    )


def sampling_mask(uniform, probabilities, dtype="float32"):
    """Draws the 0/1 mask: 1 where `uniform < probabilities`.

    Args:
        uniform: `(batch, steps)` samples of U[0, 1).
        probabilities: `(steps,)` probabilities of the true frame.
    """
    return ops.cast(uniform < probabilities[None, :], dtype)


def test_mask(batch_size, steps, context_length, dtype="float32"):
    """The test-time mask: true frames for `t < context_length`, then 0."""
    row = ops.cast(ops.arange(steps) < context_length, dtype)
    return ops.broadcast_to(row[None, :], (batch_size, steps))
