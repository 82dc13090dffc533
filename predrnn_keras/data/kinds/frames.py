"""The data kind "frames": your own sequences as folders of frames or
videos."""

from predrnn_keras.data import config_checks
from predrnn_keras.data import decoding
from predrnn_keras.data import frames_reader
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.base import first_path


class FramesKind(DataKind):
    """PNG/JPEG frame folders or videos (`predrnn_keras.data.frames_reader`)."""

    name = "frames"
    keys = frames_reader.KEYS
    description = frames_reader.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return frames_reader.frames_reader(config, split, total_length)

    def frame_shape(self, config):
        """`image_size` and `channels`, or those of the first frame."""
        image_size = config_checks.get_image_size(config)
        channels = config_checks.get_choice(
            config, "channels", (1, 3, None), None
        )
        if image_size is None or channels is None:
            clip = frames_reader.find_clips(first_path(config))[0]
            frames = (
                next(decoding.iter_video(clip.files[0], chunk=1))
                if clip.is_video
                else decoding.read_image(clip.files[0])
            )
            image_size = image_size or frames.shape[1:3]
            channels = channels or frames.shape[-1]
        return image_size[0], image_size[1], channels
