import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras import backends
from predrnn_keras.layers.conv import FeatureMapConv2D
from predrnn_keras.layers.conv import StackedConvolution
from tests import numpy_reference as ref
from tests.test_case import TestCase
from tests.test_case import kernel_gradient_calls

# The running backend's fast paths, which these tests exercise directly.
PATHS = backends.fast_paths("auto")
prepare_kernels = PATHS.prepare_kernels


def _restack_threshold(monkeypatch, elements):
    """Sets PyTorch's smallest restacked input (a no-op elsewhere)."""
    monkeypatch.setattr(
        type(PATHS), "restack_min_elements", elements, raising=False
    )


class FeatureMapConv2DTest(TestCase):
    @parameterized.named_parameters(
        ("kernel_5", 5, False), ("kernel_1", 1, False), ("bias", 3, True)
    )
    def test_same_convolution_of_nhwc_maps(self, kernel, use_bias):
        # Height != width, so that a swapped axis cannot pass.
        rng = np.random.default_rng(0)
        x = rng.normal(size=(2, 7, 5, 3)).astype("float32")
        layer = FeatureMapConv2D(4, kernel, padding="same", use_bias=use_bias)
        layer.build(x.shape)
        self.randomize_weights(layer)
        got = self.to_numpy(layer(x))
        want = ref.conv2d_same(x.astype("float64"), self.to_numpy(layer.kernel))
        if use_bias:
            want = want + self.to_numpy(layer.bias)
        self.assertEqual(got.shape, (2, 7, 5, 4))
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

    @parameterized.named_parameters(
        ("float32", "float32", False, None),
        ("mixed_bfloat16", "mixed_bfloat16", False, None),
        ("bias_relu", "float32", True, "relu"),
        ("mixed_bias_relu", "mixed_bfloat16", True, "relu"),
    )
    def test_convolve_is_call_without_layer_call(
        self, policy, use_bias, activation
    ):
        # `convolve` skips Layer.__call__ but must give its result: the
        # same values in the same (compute) dtype, float32 inputs included.
        rng = np.random.default_rng(1)
        x = rng.normal(size=(2, 6, 5, 3)).astype("float32")
        layer = FeatureMapConv2D(
            4, 3, padding="same", use_bias=use_bias, activation=activation,
            dtype=policy,
        )
        layer.build(x.shape)
        self.randomize_weights(layer, seed=2)
        want = layer(x)
        got = layer.convolve(keras.ops.convert_to_tensor(x))
        self.assertEqual(
            keras.backend.standardize_dtype(got.dtype), layer.compute_dtype
        )
        self.assertEqual(
            keras.backend.standardize_dtype(want.dtype),
            keras.backend.standardize_dtype(got.dtype),
        )
        got = self.to_numpy(keras.ops.cast(got, "float32"))
        want = self.to_numpy(keras.ops.cast(want, "float32"))
        np.testing.assert_array_equal(got, want)
        if activation == "relu":
            self.assertGreater(np.mean(got == 0), 0.1)
        # The kernel variable itself stays in the variable dtype.
        self.assertEqual(layer.kernel.dtype, "float32")

    @parameterized.named_parameters(
        ("float32_k5", "float32", 5),
        ("float32_k1", "float32", 1),
        ("mixed_bfloat16_k3", "mixed_bfloat16", 3),
    )
    def test_prepared_kernels_are_prepared_once(self, policy, kernel):
        rng = np.random.default_rng(6)
        x = keras.ops.convert_to_tensor(
            rng.normal(size=(2, 6, 5, 3)).astype("float32")
        )
        layer = FeatureMapConv2D(
            4, kernel, padding="same", use_bias=False, dtype=policy
        )
        layer.build(x.shape)
        self.randomize_weights(layer, seed=7)

        def values(y):
            return self.to_numpy(keras.ops.cast(y, "float32"))

        first = values(layer(x))
        old_kernel = self.to_numpy(layer.kernel)
        kernels = prepare_kernels([layer])
        np.testing.assert_array_equal(values(layer.convolve(x, kernels)), first)
        # The kernel was prepared before: a convolution handed it does not
        # see new weights.
        layer.kernel.assign(-old_kernel)
        np.testing.assert_array_equal(values(layer.convolve(x, kernels)), first)
        # Without it, the convolution prepares the new kernel.
        np.testing.assert_array_equal(
            values(layer.convolve(x)), values(layer(x))
        )
        np.testing.assert_array_equal(values(layer(x)), -first)
        # A convolution that was not prepared prepares its own kernel.
        other = FeatureMapConv2D(
            4, kernel, padding="same", use_bias=False, dtype=policy
        )
        other.build(x.shape)
        np.testing.assert_array_equal(
            values(other.convolve(x, kernels)), values(other(x))
        )

    def test_is_a_channels_last_conv2d_with_its_weights(self):
        layer = FeatureMapConv2D(6, 3, padding="same", use_bias=False)
        layer.build((None, 8, 8, 2))
        self.assertEqual(layer.data_format, "channels_last")
        self.assertEqual(tuple(layer.kernel.shape), (3, 3, 2, 6))
        self.assertEqual(layer.compute_output_shape((1, 8, 8, 2)), (1, 8, 8, 6))
        # Weights move to and from keras.layers.Conv2D unchanged.
        plain = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)
        plain.build((None, 8, 8, 2))
        self.randomize_weights(plain, seed=4)
        layer.set_weights(plain.get_weights())
        x = np.random.default_rng(5).normal(size=(1, 8, 8, 2))
        np.testing.assert_allclose(
            self.to_numpy(layer(x.astype("float32"))),
            self.to_numpy(plain(x.astype("float32"))),
            atol=1e-5,
        )
        revived = FeatureMapConv2D.from_config(layer.get_config())
        self.assertIsInstance(revived, FeatureMapConv2D)
        self.assertEqual(revived.get_config(), layer.get_config())


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the PyTorch route"
)
def test_pytorch_convolves_the_callers_tensor_without_copies():
    import torch

    x = torch.randn(2, 6, 5, 8, requires_grad=True)  # NHWC
    layer = FeatureMapConv2D(12, 5, padding="same", use_bias=False)
    layer.build(tuple(x.shape))
    plain = keras.layers.Conv2D(12, 5, padding="same", use_bias=False)
    plain.build(tuple(x.shape))
    plain.set_weights(layer.get_weights())

    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = layer(x)
    # The convolution keeps for its backward pass the caller's own memory
    # (a permuted view of it), not a copy of the input.
    inputs = [t for t in saved if t.numel() == x.numel()]
    assert inputs, "the convolution saved no input"
    pointer = x.untyped_storage().data_ptr()
    assert all(t.untyped_storage().data_ptr() == pointer for t in inputs)
    # And the result is NHWC-contiguous: nothing to copy downstream.
    assert y.shape == (2, 6, 5, 12) and y.is_contiguous()

    # Same values and gradients as Keras' own Conv2D.
    y_plain = plain(x)
    torch.testing.assert_close(y, y_plain, atol=1e-5, rtol=1e-5)
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    (grad_plain,) = torch.autograd.grad(y_plain.square().sum(), x)
    torch.testing.assert_close(grad, grad_plain, atol=1e-4, rtol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the PyTorch route"
)
@pytest.mark.parametrize("kernel", [5, 1])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_pytorch_prepared_kernel_is_what_conv2d_reads(kernel, policy):
    import torch

    layer = FeatureMapConv2D(12, kernel, padding="same", dtype=policy)
    layer.build((2, 6, 5, 8))
    prepared = layer.prepared_kernel()
    assert prepared.dtype == (
        torch.bfloat16 if policy == "mixed_bfloat16" else torch.float32
    )
    torch.testing.assert_close(
        prepared, layer.kernel.value.to(prepared.dtype), atol=0, rtol=0
    )
    # Keras' torch `conv` permutes it to OIHW: that must be channels-last
    # memory, which mkldnn reads without a copy (the variable's own
    # (H, W, I, O) order is not).
    oihw = prepared.permute(3, 2, 0, 1)
    assert oihw.is_contiguous(memory_format=torch.channels_last)
    assert not layer.kernel.value.permute(3, 2, 0, 1).is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the PyTorch route"
)
def test_pytorch_reused_kernel_sums_the_gradient_of_every_step():
    import torch

    rng = np.random.default_rng(8)
    steps = [
        torch.tensor(rng.normal(size=(2, 6, 5, 3)), dtype=torch.float32)
        for _ in range(3)
    ]
    layer = FeatureMapConv2D(4, 3, padding="same", use_bias=False)
    layer.build((2, 6, 5, 3))
    kernel = layer.kernel.value

    def loss(kernels):
        total = 0.0
        for x in steps:
            total = total + layer.convolve(x, kernels).square().sum()
        return total

    (reused,) = torch.autograd.grad(loss(prepare_kernels([layer])), kernel)
    (per_step,) = torch.autograd.grad(loss(None), kernel)
    torch.testing.assert_close(reused, per_step, atol=1e-4, rtol=1e-5)
    assert float(reused.abs().sum()) > 0


def _kernel_gradient_same(inputs, output_gradients, k):
    """NumPy: d sum_t <conv_same(x_t, K), g_t> / dK, summed over steps."""
    pad = k // 2
    height, width = inputs[0].shape[1:3]
    grad = 0.0
    for x, g in zip(inputs, output_gradients):
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        windows = np.stack(
            [
                np.stack(
                    [
                        padded[:, dy : dy + height, dx : dx + width]
                        for dx in range(k)
                    ]
                )
                for dy in range(k)
            ]
        )  # (k, k, B, H, W, Cin)
        grad = grad + np.einsum("yxbhwi,bhwo->yxio", windows, g)
    return grad


_BATCHING = pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="kernel gradients are batched on TensorFlow and PyTorch",
)


@_BATCHING
@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    "policy, rtol", [("float32", 1e-5), ("mixed_bfloat16", 1e-2)]
)
def test_batched_kernel_gradient_is_the_sum_over_steps(
    policy, rtol, compiled
):
    # A loss sum_t <y_t, g_t> over three steps, of which step 1 does not
    # reach the loss: the kernel's gradient is sum over t in {0, 2} of
    # x_t's windows times g_t, re-derived in NumPy.
    if compiled and keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function is TensorFlow's")
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=(2, 6, 5, 3)).astype("float32") for _ in range(3)]
    gs = [rng.normal(size=(2, 6, 5, 4)).astype("float32") for _ in range(3)]
    # Tensors, not constants of the graph: grappler would fold a gradient
    # of constants with its own (less exact) bfloat16 kernels.
    x_tensors = [keras.ops.convert_to_tensor(x) for x in xs]
    g_tensors = [keras.ops.convert_to_tensor(g) for g in gs]
    layer = FeatureMapConv2D(
        4, 3, padding="same", use_bias=False, dtype=policy
    )
    layer.build((2, 6, 5, 3))

    def loss():
        kernels = prepare_kernels([layer], batch_gradients=True)
        outputs = [layer.convolve(x, kernels) for x in x_tensors]
        return sum(
            keras.ops.sum(keras.ops.cast(outputs[t], "float32") * g_tensors[t])
            for t in (0, 2)
        )

    with kernel_gradient_calls() as calls:
        (got,) = TestCase.gradients(loss, [layer.kernel], compiled)
    # One weight gradient for the kernel, from the two steps that count.
    assert calls == [(layer, [0, 2])]
    if policy == "mixed_bfloat16":
        xs = [ref.round_to_bfloat16(x) for x in xs]
        gs = [ref.round_to_bfloat16(g) for g in gs]
    want = _kernel_gradient_same([xs[0], xs[2]], [gs[0], gs[2]], 3)
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=rtol * np.abs(want).max()
    )


@_BATCHING
@pytest.mark.parametrize(
    "options, batched",
    [
        (dict(padding="same"), True),
        (dict(padding="valid", strides=2), True),
        (dict(padding="same", dilation_rate=2), True),
        (dict(padding="valid", dilation_rate=(1, 2)), True),
        # PyTorch pads "same" asymmetrically here: per-step gradients.
        (dict(padding="same", strides=2), "tensorflow"),
        (dict(padding="same", kernel_size=2), "tensorflow"),
    ],
)
def test_batched_kernel_gradient_keeps_the_convolutions_geometry(
    options, batched
):
    if not isinstance(batched, bool):
        batched = keras.backend.backend() == batched
    options = {"kernel_size": 3, **options}
    rng = np.random.default_rng(10)
    xs = [
        keras.ops.convert_to_tensor(
            rng.normal(size=(2, 9, 8, 3)).astype("float32")
        )
        for _ in range(3)
    ]
    layer = FeatureMapConv2D(4, use_bias=False, **options)
    layer.build((2, 9, 8, 3))
    TestCase.randomize_weights(layer, seed=11)
    assert (PATHS.batched_gradient(layer) is not None) == batched

    def loss(batch_gradients):
        def value():
            kernels = prepare_kernels([layer], batch_gradients)
            return sum(
                keras.ops.sum(keras.ops.sin(layer.convolve(x, kernels)))
                for x in xs
            )

        return value

    with kernel_gradient_calls() as calls:
        (got,) = TestCase.gradients(loss(True), [layer.kernel])
    assert calls == ([(layer, [0, 1, 2])] if batched else [])
    (per_step,) = TestCase.gradients(loss(False), [layer.kernel])
    assert np.abs(per_step).sum() > 0
    np.testing.assert_allclose(
        got, per_step, rtol=1e-5, atol=1e-5 * np.abs(per_step).max()
    )


def _stacked_parts(policy="float32"):
    """Two convolutions and the output channels a StackedConvolution takes:
    channels [0, 1) and [3, 5) of `a` (5 outputs), all 3 of `b`."""
    a = FeatureMapConv2D(5, 3, padding="same", use_bias=False, dtype=policy)
    b = FeatureMapConv2D(3, 3, padding="same", use_bias=False, dtype=policy)
    a.build((2, 6, 5, 2))
    b.build((2, 6, 5, 4))
    TestCase.randomize_weights(a, seed=20)
    TestCase.randomize_weights(b, seed=21)
    return a, b, [(a, [(0, 1), (3, 5)]), (b, None)]


@pytest.mark.parametrize("restacked", [False, True])
@pytest.mark.parametrize("reused", [False, True])
def test_stacked_convolution_is_the_sum_of_its_parts(
    reused, restacked, monkeypatch
):
    # On PyTorch, this small stack is restacked for the gradient only with
    # the threshold lowered (TensorFlow always restacks, JAX never).
    if restacked:
        _restack_threshold(monkeypatch, 0)
    a, b, parts = _stacked_parts()
    stacked = StackedConvolution(parts)
    rng = np.random.default_rng(22)
    xa = rng.normal(size=(2, 6, 5, 2)).astype("float32")
    xb = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    ka, kb = TestCase.to_numpy(a.kernel), TestCase.to_numpy(b.kernel)
    want = (
        ref.conv2d_same(xa.astype("float64"), ka[..., [0, 3, 4]])
        + ref.conv2d_same(xb.astype("float64"), kb)
    )
    # Variables, for the inputs' gradients below.
    inputs = [keras.Variable(x, name=f"x{i}") for i, x in enumerate((xa, xb))]

    def convolve():
        kernels = prepare_kernels([stacked]) if reused else None
        return stacked.convolve([x.value for x in inputs], kernels)

    got = convolve()
    assert tuple(got.shape) == (2, 6, 5, 3)
    np.testing.assert_allclose(TestCase.to_numpy(got), want, atol=1e-5)
    # Its kernel is assembled from the layers' kernels, so their gradients
    # are those of the separate convolutions; so are the inputs' gradients
    # (the backward pass stacks the inputs again).
    weights = keras.ops.convert_to_tensor(
        rng.normal(size=(2, 6, 5, 3)).astype("float32")
    )

    def loss(convolve):
        return lambda: keras.ops.sum(convolve() * weights)

    variables = [a.kernel, b.kernel, *inputs]
    got = TestCase.gradients(loss(convolve), variables)

    def separate():
        out_a = a.convolve(inputs[0].value)
        out_a = keras.ops.concatenate(
            [out_a[..., 0:1], out_a[..., 3:5]], axis=-1
        )
        return out_a + b.convolve(inputs[1].value)

    want = TestCase.gradients(loss(separate), variables)
    for got_one, want_one in zip(got, want):
        assert np.abs(want_one).sum() > 0
        np.testing.assert_allclose(got_one, want_one, rtol=1e-5, atol=1e-5)
    # Channels the stack does not take get no gradient.
    np.testing.assert_array_equal(got[0][..., [1, 2]], 0.0)
    if keras.backend.backend() == "tensorflow":
        # The same in a graph (the training step's route).
        compiled = TestCase.gradients(loss(convolve), variables, True)
        for got_one, want_one in zip(compiled, want):
            np.testing.assert_allclose(
                got_one, want_one, rtol=1e-5, atol=1e-5
            )


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the PyTorch route"
)
@pytest.mark.parametrize("reused", [False, True])
def test_pytorch_stacked_convolution_keeps_its_inputs_unstacked(
    reused, monkeypatch
):
    import torch

    # (2, 6, 5, 6): 360 elements.
    _restack_threshold(monkeypatch, 360)
    _, _, parts = _stacked_parts()
    stacked = StackedConvolution(parts)
    xa = torch.randn(2, 6, 5, 2, requires_grad=True)
    xb = torch.randn(2, 6, 5, 4, requires_grad=True)
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        kernels = prepare_kernels([stacked]) if reused else None
        stacked.convolve([xa, xb], kernels)
    # The backward pass keeps the inputs themselves (which the layer keeps
    # anyway) and stacks them again when it runs, not their stacked copy
    # (2 + 4 channels).
    pointers = {t.untyped_storage().data_ptr() for t in saved}
    for x in (xa, xb):
        assert x.untyped_storage().data_ptr() in pointers
    assert not [t for t in saved if t.shape == (2, 6, 5, 6)]
    # Below the threshold the convolution keeps the stacked copy.
    _restack_threshold(monkeypatch, 361)
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        stacked.convolve([xa, xb])
    assert [t for t in saved if t.numel() == 360]


def _ancestors(op):
    """The operations `op` waits for, through data and control edges."""
    seen, todo = set(), [op]
    while todo:
        current = todo.pop()
        parents = [t.op for t in current.inputs] + list(current.control_inputs)
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the TensorFlow route"
)
def test_tensorflow_stacked_convolution_restacks_after_the_gradient():
    import tensorflow as tf

    a, b, parts = _stacked_parts()
    stacked = StackedConvolution(parts)
    xa = tf.random.normal((2, 6, 5, 2))
    xb = tf.random.normal((2, 6, 5, 4))

    @tf.function
    def gradient(xa, xb):
        with tf.GradientTape() as tape:
            tape.watch([xa, xb])
            loss = tf.reduce_sum(stacked.convolve([xa, xb]) ** 2)
        return tape.gradient(loss, [xa, xb, a.kernel, b.kernel])

    graph = gradient.get_concrete_function(xa, xb).graph
    filters = [
        op for op in graph.get_operations()
        if op.type == "Conv2DBackpropFilter"
    ]
    assert len(filters) == 1
    # The kernel's gradient reads the inputs stacked again in the backward
    # pass, and that stack waits for the output gradient: inside a
    # `tf.while_loop`'s gradient, whose iterations run up to 32 at once,
    # a stack built from the saved inputs alone would be built ahead for
    # all of them.
    restacked = filters[0].inputs[0].op
    assert restacked.type == "ConcatV2"
    output_gradient = filters[0].inputs[2].op
    assert output_gradient in _ancestors(restacked)
    forward = [
        op for op in graph.get_operations()
        if op.type == "ConcatV2" and op is not restacked
        and op.outputs[0].shape == (2, 6, 5, 6)
    ]
    assert len(forward) == 1
    assert forward[0].outputs[0].consumers()[0].type == "Conv2D"
    got = gradient(xa, xb)
    for g in got:
        assert np.abs(TestCase.to_numpy(g)).sum() > 0


def test_stacked_convolution_prepares_the_stacked_kernel():
    a, b, parts = _stacked_parts("mixed_bfloat16")
    stacked = StackedConvolution(parts)
    assert stacked.compute_dtype == "bfloat16"
    kernel = stacked.prepared_kernel()
    assert keras.backend.standardize_dtype(kernel.dtype) == "bfloat16"
    # (3, 3, 2 + 4, 3), the input axis stacked; on PyTorch a channels-last
    # layout of the same values.
    assert tuple(kernel.shape) == (3, 3, 6, 3)
    ka, kb = TestCase.to_numpy(a.kernel), TestCase.to_numpy(b.kernel)
    want = np.concatenate([ka[..., [0, 3, 4]], kb], axis=2)
    np.testing.assert_array_equal(
        TestCase.to_numpy(keras.ops.cast(kernel, "float32")),
        ref.round_to_bfloat16(want),
    )


def test_stacked_convolution_refuses_parts_it_cannot_sum():
    a, b, _ = _stacked_parts()
    strided = FeatureMapConv2D(3, 3, strides=2, use_bias=False, name="strided")
    strided.build((2, 6, 5, 4))
    with pytest.raises(ValueError, match=r"strided\.strides=\(2, 2\)"):
        StackedConvolution([(a, None), (strided, None)])
    biased = FeatureMapConv2D(3, 3, padding="same", name="biased")
    biased.build((2, 6, 5, 4))
    with pytest.raises(ValueError, match="biased with use_bias=True"):
        StackedConvolution([(a, None), (biased, None)])
