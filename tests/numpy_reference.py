"""An independent NumPy re-derivation of the method, for the tests.

Written from the equations of docs/method.md, not from the library code:
channels last, float64, explicit "same" convolutions. Only the order of the
gates in the convolution kernels, a convention of the reference's
checkpoints, comes from the library (`gate_layout`).
"""

import numpy as np

from predrnn_keras.layers.gate_layout import GATES
from predrnn_keras.layers.gate_layout import SPATIOTEMPORAL_GATES
from predrnn_keras.layers.gate_layout import TEMPORAL_GATES
from predrnn_keras.layers.gate_layout import gate_channels


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def conv2d_same(x, kernel):
    """x: (B, H, W, Cin); kernel: (k, k, Cin, Cout); stride 1, zero padding."""
    k = kernel.shape[0]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for dy in range(k):
        for dx in range(k):
            window = padded[:, dy : dy + height, dx : dx + width, :]
            out += window @ kernel[dy, dx]
    return out


def layer_norm(x, gamma, beta, eps=1e-5):
    """Per-sample normalisation over (H, W, C), biased variance."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def round_to_bfloat16(x):
    """Rounds float32 values to the nearest bfloat16 (ties to even), as float32.

    bfloat16 is the top 16 bits of a float32: add half of the dropped part
    (plus the tie-breaking bit) and clear the low 16 bits.
    """
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = bits + 0x7FFF + ((bits >> 16) & 1)
    bits = (bits & 0xFFFF0000).astype(np.uint32)
    return bits.view(np.float32)


def conv2d_same_bfloat16(x, kernel):
    """A convolution as mixed precision runs it: bfloat16 inputs and kernel,
    float accumulation, the result rounded to bfloat16."""
    out = conv2d_same(
        round_to_bfloat16(x).astype(np.float64),
        round_to_bfloat16(kernel).astype(np.float64),
    )
    return round_to_bfloat16(out).astype(np.float64)


def st_lstm_step(
    x, h, c, m, w, forget_bias=1.0, conv=conv2d_same, stacked_gates=False
):
    """One ST-LSTM step. `w` maps names to kernels and optional norms.

    `conv` computes every convolution (`conv2d_same_bfloat16` for mixed
    precision); everything else is float64. With `stacked_gates` each sum of
    gate convolutions (x with h for i, f, g, o; x with m for i', f', g') is
    computed as one `conv` of the stacked inputs with the stacked kernels,
    as the layer does without layer normalisation: under mixed precision
    each sum is then rounded to bfloat16 once. Without norms only.

    Returns h_new, c_new, m_new, delta_c, delta_m.
    """
    n = h.shape[-1]

    def gates(tensor, conv_name):
        """`{gate: channels}` of a convolution's output (`gate_layout`)."""
        return {
            name: tensor[..., slice(*gate_channels(conv_name, name, n))]
            for name in GATES[conv_name]
        }

    def kernel_of(conv_name, names):
        """The output channels of `names` in a kernel, in that order."""
        kernel = w[conv_name]
        return np.concatenate(
            [kernel[..., slice(*gate_channels(conv_name, g, n))] for g in names],
            axis=-1,
        )

    if stacked_gates:
        # x's i, f, g, o with h's; x's i', f', g' with m's.
        kernel_xh = np.concatenate(
            [kernel_of(c_, TEMPORAL_GATES) for c_ in ("conv_x", "conv_h")],
            axis=2,
        )
        kernel_xm = np.concatenate(
            [
                kernel_of(c_, SPATIOTEMPORAL_GATES)
                for c_ in ("conv_x", "conv_m")
            ],
            axis=2,
        )
        xh = conv(np.concatenate([x, h], axis=-1), kernel_xh)
        xm = conv(np.concatenate([x, m], axis=-1), kernel_xm)
        sums = {
            **dict(zip(TEMPORAL_GATES, np.split(xh, 4, axis=-1))),
            **dict(zip(SPATIOTEMPORAL_GATES, np.split(xm, 3, axis=-1))),
        }
        return _st_lstm_memories(c, m, w, forget_bias, conv, sums)

    def gate(name, inputs):
        out = conv(inputs, w[f"conv_{name}"])
        if f"norm_{name}" in w:
            gamma, beta = w[f"norm_{name}"]
            out = layer_norm(out, gamma, beta)
        return out

    xg = gates(gate("x", x), "conv_x")
    hg = gates(gate("h", h), "conv_h")
    mg = gates(gate("m", m), "conv_m")
    sums = {name: xg[name] + hg[name] for name in TEMPORAL_GATES}
    sums.update({name: xg[name] + mg[name] for name in SPATIOTEMPORAL_GATES})
    return _st_lstm_memories(c, m, w, forget_bias, conv, sums, gate)


def _st_lstm_memories(c, m, w, forget_bias, conv, sums, gate=None):
    """The rest of `st_lstm_step`, from the sums of the gate convolutions."""
    i_sum, f_sum, g_sum, o_sum = (sums[g] for g in ("i", "f", "g", "o"))
    ip_sum, fp_sum, gp_sum = (sums[g] for g in ("i_m", "f_m", "g_m"))
    i = sigmoid(i_sum)
    f = sigmoid(f_sum + forget_bias)
    g = np.tanh(g_sum)
    c_new = f * c + i * g
    i_p = sigmoid(ip_sum)
    f_p = sigmoid(fp_sum + forget_bias)
    g_p = np.tanh(gp_sum)
    m_new = f_p * m + i_p * g_p
    mem = np.concatenate([c_new, m_new], axis=-1)
    o_conv = conv(mem, w["conv_o"]) if gate is None else gate("o", mem)
    o = sigmoid(o_sum + o_conv)
    h_new = o * np.tanh(conv(mem, w["conv_last"]))
    return h_new, c_new, m_new, i * g, i_p * g_p


def patch(frames, p):
    b, t, h, w, c = frames.shape
    x = frames.reshape(b, t, h // p, p, w // p, p, c)
    x = x.transpose(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, t, h // p, w // p, p * p * c)


def unpatch(patches, p):
    b, t, hp, wp, d = patches.shape
    c = d // (p * p)
    x = patches.reshape(b, t, hp, wp, p, p, c)
    x = x.transpose(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, t, hp * p, wp * p, c)


def decoupling_term(a, b):
    """Mean over channels of |cos| between spatially flattened maps, per sample."""
    bsz, h, w, n = a.shape
    a = a.reshape(bsz, h * w, n)
    b = b.reshape(bsz, h * w, n)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.abs((a * b).sum(axis=1)).mean(axis=1)


def predrnn_forward(
    frames, mask, layers, head, p, adapter=None, zigzag=True
):
    """The zigzag loop with the feedback of the predictions.

    Args:
        frames: (B, T, H, W, C).
        mask: (B, T - 1) of 0/1, 1 = the true frame is the input at step t.
        layers: list of per-layer weight dicts (see `st_lstm_step`).
        head: (1, 1, N, p*p*C) kernel.
        adapter: optional (1, 1, N, N) kernel for the decoupling loss.
        zigzag: False resets the memory to zeros at every step instead of
            carrying it from the top layer to layer 0 (a deliberately wrong
            variant, to show that the tests can tell the difference).

    Returns:
        predictions (B, T - 1, H, W, C), decoupling loss (float or None).
    """
    x_all = patch(frames.astype(np.float64), p)
    bsz, steps = mask.shape
    hp, wp = x_all.shape[2:4]
    n = layers[0]["conv_h"].shape[2]
    h = [np.zeros((bsz, hp, wp, n)) for _ in layers]
    c = [np.zeros((bsz, hp, wp, n)) for _ in layers]
    m = np.zeros((bsz, hp, wp, n))
    prev = None
    preds, terms = [], []
    for t in range(steps):
        if not zigzag:
            m = np.zeros_like(m)
        mk = mask[:, t][:, None, None, None]
        if t == 0:
            net = x_all[:, 0]
        else:
            net = mk * x_all[:, t] + (1 - mk) * prev
        for l, w in enumerate(layers):
            inp = net if l == 0 else h[l - 1]
            h[l], c[l], m, dc, dm = st_lstm_step(inp, h[l], c[l], m, w)
            if adapter is not None:
                terms.append(
                    decoupling_term(
                        conv2d_same(dc, adapter), conv2d_same(dm, adapter)
                    ).mean()
                )
        prev = conv2d_same(h[-1], head)
        preds.append(prev)
    out = unpatch(np.stack(preds, axis=1), p)
    return out, (float(np.mean(terms)) if terms else None)
