"""The data kind "array": your own sequences as an .npy / .npz array."""

from predrnn_keras.data import array_reader
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.base import first_path


class ArrayKind(DataKind):
    """`(N, T, H, W[, C])` arrays (`predrnn_keras.data.array_reader`)."""

    name = "array"
    keys = array_reader.KEYS
    description = array_reader.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return array_reader.array_reader(config, split, total_length)

    def frame_shape(self, config):
        array = array_reader.open_array(first_path(config), config.get("key"))
        shape = (*array.shape, 1)
        return shape[2], shape[3], shape[4]
