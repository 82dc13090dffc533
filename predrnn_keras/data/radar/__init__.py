"""Radar composites: a time series of radar files read through pysteps.

The files are found under `path` by a file name `pattern` with time codes,
read by one of pysteps' importers, converted to rain rate (mm/h) or
reflectivity (dBZ), cropped and averaged down to `image_size`, and decoded
once into a memory-mapped cache. Each split is a list of time ranges, with
no frame shared between splits; sequences are windows of consecutive frames
within one range. The model sees the values through `RadarTransform`, whose
exact inverse gives the scores mm/h or dBZ back. Its modules follow the
data:

- `settings`: the `[data]` keys (`KEYS`), their checks and `RadarSettings`.
- `series`: the files a time pattern finds, and the time steps of a range.
- `reading`: one file through a pysteps importer, cropped and averaged.
- `cache`: the files of a time range, decoded once into a `.npy` file.
- `reader`: `RadarReader`, the windows of a split in the model's values.

pysteps and the readers of the formats (h5py, netCDF4) are the optional
radar extra, imported only when this reader is used.
"""

from predrnn_keras.data.radar.cache import cache_series
from predrnn_keras.data.radar.reader import RadarReader
from predrnn_keras.data.radar.reader import radar_frame_shape
from predrnn_keras.data.radar.reader import radar_reader
from predrnn_keras.data.radar.reading import area_resize
from predrnn_keras.data.radar.reading import area_weights
from predrnn_keras.data.radar.reading import get_importer
from predrnn_keras.data.radar.reading import read_radar_file
from predrnn_keras.data.radar.series import find_radar_files
from predrnn_keras.data.radar.series import pattern_regex
from predrnn_keras.data.radar.series import series_files
from predrnn_keras.data.radar.settings import DEFAULT_MAX_VALUE
from predrnn_keras.data.radar.settings import DEFAULT_THRESHOLD
from predrnn_keras.data.radar.settings import KEYS
from predrnn_keras.data.radar.settings import TIMES
from predrnn_keras.data.radar.settings import RadarSettings
from predrnn_keras.data.radar.settings import get_time_ranges
from predrnn_keras.data.radar.settings import parse_time
from predrnn_keras.data.radar.settings import radar_settings
from predrnn_keras.data.radar.settings import radar_transform
from predrnn_keras.data.radar.settings import to_model_units

__all__ = [
    "DEFAULT_MAX_VALUE",
    "DEFAULT_THRESHOLD",
    "KEYS",
    "TIMES",
    "RadarReader",
    "RadarSettings",
    "area_resize",
    "area_weights",
    "cache_series",
    "find_radar_files",
    "get_importer",
    "get_time_ranges",
    "parse_time",
    "pattern_regex",
    "radar_frame_shape",
    "radar_reader",
    "radar_settings",
    "radar_transform",
    "read_radar_file",
    "series_files",
    "to_model_units",
]
