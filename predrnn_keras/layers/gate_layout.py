"""Where each gate's channels sit in the ST-LSTM's convolution kernels.

The ST-LSTM (docs/method.md, "ST-LSTM") computes its gate
pre-activations with three convolutions whose output channels hold several
gates side by side, `filters` channels each, in a fixed order. The order is
that of the reference's checkpoints, so it is defined here once and read by
the layer, the checkpoint converter and the tests' NumPy reference.

- `conv_x` (of the layer input): i, f, g, i', f', g', o (7 gates).
- `conv_h` (of the hidden state): i, f, g, o (4 gates).
- `conv_m` (of the spatiotemporal memory): i', f', g' (3 gates).

Primes are written `_m`: `i_m` is i', the input gate of the memory `m`.
"""

GATES = {
    "conv_x": ("i", "f", "g", "i_m", "f_m", "g_m", "o"),
    "conv_h": ("i", "f", "g", "o"),
    "conv_m": ("i_m", "f_m", "g_m"),
}

# The gates of the temporal memory `c` and the output gate, then those of
# the spatiotemporal memory `m`: the two sums the layer forms.
TEMPORAL_GATES = ("i", "f", "g", "o")
SPATIOTEMPORAL_GATES = ("i_m", "f_m", "g_m")


def gate_channels(conv, gate, filters):
    """`(start, stop)`: the output channels of `gate` in `conv`'s kernel."""
    index = GATES[conv].index(gate)
    return index * filters, (index + 1) * filters


def output_channels(conv, filters):
    """The number of output channels of `conv` for `filters` per gate."""
    return len(GATES[conv]) * filters


def channel_ranges(conv, gates, filters):
    """The channel ranges of `gates` in `conv`, merged where they touch.

    `channel_ranges("conv_x", TEMPORAL_GATES, n)` is `[(0, 3n), (6n, 7n)]`.
    """
    ranges = []
    for gate in gates:
        start, stop = gate_channels(conv, gate, filters)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], stop)
        else:
            ranges.append((start, stop))
    return ranges
