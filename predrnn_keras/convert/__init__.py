"""Converts the PyTorch reference's PredRNN checkpoints into Keras models.

The reference implementation saves `torch.save({"net_param": state_dict})`
to files named `model.ckpt-<iteration>`. This package reads such a file (or
a bare state_dict, `reference_checkpoint`), checks it against the
hyper-parameters the user gives and infers those the tensors determine
(`hyperparameters`), copies every tensor into a `PredRNN` or `PredRNNV2`
(kernels from PyTorch's `(out, in, kh, kw)` to Keras' `(kh, kw, in, out)`,
layer-norm parameters from `(channels, h, w)` to `(h, w, channels)`,
`converter`) and writes a `.keras` file. docs/evaluation.md shows how.

PyTorch is needed only to read the file; it is imported when a file is read.

Command line (`command`):

    python -m predrnn_keras.convert model.ckpt-80000 \\
        --recipe recipes/mnist_predrnn_v2.toml -o mnist_predrnn_v2.keras
"""

from predrnn_keras.convert.command import main
from predrnn_keras.convert.converter import convert_checkpoint
from predrnn_keras.convert.converter import convert_state_dict
from predrnn_keras.convert.converter import describe
from predrnn_keras.convert.converter import read_recipe
from predrnn_keras.convert.reference_checkpoint import ConversionError
from predrnn_keras.convert.reference_checkpoint import load_reference_state_dict
from predrnn_keras.convert.reference_checkpoint import reference_shapes

__all__ = [
    "ConversionError",
    "convert_checkpoint",
    "convert_state_dict",
    "describe",
    "load_reference_state_dict",
    "main",
    "read_recipe",
    "reference_shapes",
]
