"""The data kind "kth": KTH action, from PNG frames or the videos."""

from predrnn_keras.data import config_checks
from predrnn_keras.data import kth
from predrnn_keras.data.kinds.base import DataKind


class KTHKind(DataKind):
    """KTH action (`predrnn_keras.data.kth`)."""

    name = "kth"
    keys = kth.KEYS
    description = kth.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return kth.kth_reader(config, split, total_length)

    def frame_shape(self, config):
        height, width = config_checks.get_image_size(
            config, self.keys["image_size"].default
        )
        return height, width, 1
