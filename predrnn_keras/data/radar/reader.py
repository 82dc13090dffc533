"""The radar reader: windows of consecutive frames of each split.

Sequences are windows of consecutive frames within one time range, `stride`
frames apart. Values reach the model through `RadarTransform` (the dB
transform with a threshold, scaled to [0, 1];
`predrnn_keras.nowcasting.transform`), whose exact inverse turns
predictions back into mm/h or dBZ for the scores. No-data pixels (NaN in
the importer's field) count as no rain for the model; the pixels without
data in some frame of a split are outside its `coverage`, which the scores
leave out. With `augment`, the training split also holds each window
rotated and mirrored. With `frame = "lagrangian"`, the training and
validation windows are read in the Lagrangian frame of their last context
field (`lagrangian`), and the test split as observed, for the scores of
the forecast advected back.
"""

import datetime
from collections.abc import Mapping

import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.radar.cache import cache_series
from predrnn_keras.data.radar.cache import pixel_size
from predrnn_keras.data.radar.lagrangian import cache_lagrangian
from predrnn_keras.data.radar.lagrangian import lagrangian_frame
from predrnn_keras.data.radar.lagrangian import motion_variant
from predrnn_keras.data.radar.reading import get_importer
from predrnn_keras.data.radar.reading import read_radar_file
from predrnn_keras.data.radar.series import find_radar_files
from predrnn_keras.data.radar.series import series_files
from predrnn_keras.data.radar.settings import RadarSettings
from predrnn_keras.data.radar.settings import radar_settings
from predrnn_keras.data.sequence_reader import SequenceReader
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.transform import RadarTransform


class RadarReader(SequenceReader):
    """Windows of consecutive radar frames, transformed to [0, 1].

    Attributes:
        transform: the `RadarTransform` from physical values to [0, 1].
        timestep: minutes between frames.
        coverage: (H, W) bool, the pixels with data in every frame of the
            split; scores leave the others out.
        start_times: the time of each sequence's first frame.
        variants: 1, or the number of rotations and mirror images of each
            window (`augment`); sequence `i` is variant `i % variants` of
            window `i // variants`.
        pixel_km: the size of the pixels in km, where the importers tell
            it (else None).
        lagrangian: the `LagrangianFrame` of a model in that frame (on
            every split, the test split's included), else None.
        motions: None, or in the Lagrangian frame the motion fields of
            each range's windows (`read_motion`); `arrays` then hold one
            window a row, and `windows` are `(range, row)`.
    """

    def __init__(
        self,
        name: str,
        arrays: list[MappedArray],
        windows: np.ndarray,
        times: list[list[datetime.datetime]],
        total_length: int,
        transform: RadarTransform,
        timestep: int,
        coverage: np.ndarray,
        details: str = "",
        augment: bool = False,
        motions: "list[MappedArray] | None" = None,
    ):
        frame_shape = (*arrays[0].shape[-2:], 1)
        square = frame_shape[0] == frame_shape[1]
        self.variants = (8 if square else 2) if augment else 1
        super().__init__(
            name,
            len(windows) * self.variants,
            total_length,
            frame_shape,
            details,
        )
        self.arrays = arrays
        self.windows = np.asarray(windows, np.int64).reshape(-1, 2)
        self.times = times
        self.transform = transform
        self.timestep = timestep
        self.coverage = coverage
        self.motions = motions
        self.pixel_km = None
        self.lagrangian = None

    @property
    def start_times(self) -> list[datetime.datetime]:
        return [
            self.times[a][s]
            for a, s in self.windows
            for _ in range(self.variants)
        ]

    def read_physical(self, indices: np.ndarray) -> np.ndarray:
        """Sequences `indices` in the data's unit, float32 (n, T, H, W), NaN
        where there is no data."""
        indices = np.asarray(indices, np.int64)
        batch = self.windows[indices // self.variants]
        out = np.empty(
            (len(batch), self.total_length, *self.frame_shape[:2]), np.float32
        )
        for array_id in np.unique(batch[:, 0]):
            rows = np.flatnonzero(batch[:, 0] == array_id)
            with self.arrays[array_id].mapped() as array:
                for row in rows:
                    start = batch[row, 1]
                    if self.motions is not None:
                        out[row] = array[start]
                    else:
                        out[row] = array[start : start + self.total_length]
        if self.variants > 1:
            for row, variant in enumerate(indices % self.variants):
                out[row] = _variant(out[row], int(variant), self.variants)
        return out

    def read_motion(self, indices: np.ndarray) -> np.ndarray:
        """In the Lagrangian frame, the motion fields of sequences
        `indices`: float32 (n, 2, H, W), x then y, in pixels per time step,
        turned with the sequence's rotation or mirror image."""
        if self.motions is None:
            raise ValueError(
                f"{self.name}: the sequences are read as observed "
                "(frame = 'eulerian'); they have no motion field"
            )
        indices = np.asarray(indices, np.int64)
        batch = self.windows[indices // self.variants]
        out = np.empty((len(batch), 2, *self.frame_shape[:2]), np.float32)
        for row, ((array_id, start), variant) in enumerate(
            zip(batch, indices % self.variants)
        ):
            with self.motions[array_id].mapped() as motion:
                out[row] = motion_variant(
                    np.asarray(motion[start]), int(variant), self.variants
                )
        return out

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """Returns sequences `indices` as float32 (n, T, H, W, 1) in [0, 1]."""
        return self.transform.forward(self.read_physical(indices))[..., None]


def _variant(frames: np.ndarray, variant: int, variants: int) -> np.ndarray:
    """Variant `variant` of (T, H, W) frames: mirrored when odd, then
    rotated by `variant // 2` quarter turns (square frames only)."""
    if variant % 2:
        frames = frames[:, :, ::-1]
    if variants == 8 and variant // 2:
        frames = np.rot90(frames, variant // 2, axes=(1, 2))
    return frames


def radar_reader(config: Mapping, split: str, total_length: int) -> RadarReader:
    """Builds the radar reader of a split.

    Config keys: `KEYS` (docs/recipes.md).

    Raises:
        ValueError: a bad key or value.
        DataError: no matching file, a gap in the time series, an
            unreadable file, or a split without a whole sequence.
        MissingExtraError: pysteps or a reader it needs is not installed.
    """
    settings = radar_settings(config)
    require("pysteps")
    for source in settings.sources:
        get_importer(source.importer)
    arrays, windows, times, pixel_km = _split_series(
        settings, split, total_length
    )
    coverage = _coverage(arrays, settings, split)
    count = len(arrays)
    augment = settings.augment and split == "train"
    motions = None
    lagrangian = settings.frame == "lagrangian" and split != "test"
    if lagrangian:
        arrays, windows, times, motions = _lagrangian_series(
            settings, arrays, windows, times, total_length
        )
    reader = RadarReader(
        str(settings.root),
        arrays,
        np.array(windows, np.int64),
        times,
        total_length,
        settings.transform,
        settings.timestep,
        coverage,
        details=(
            (
                f"{len(settings.sources)} sources, "
                if len(settings.sources) > 1
                else ""
            )
            + f"{count} time range{'s' if count != 1 else ''} at "
            f"{settings.timestep} min, {settings.unit}, "
            f"{coverage.mean():.0%} of pixels covered"
            + (", rotated and mirrored" if augment else "")
            + (
                f", in the Lagrangian frame ({settings.motion})"
                if lagrangian
                else ""
            )
        ),
        augment=augment,
        motions=motions,
    )
    reader.pixel_km = pixel_km
    if settings.frame == "lagrangian":
        reader.lagrangian = lagrangian_frame(settings)
    return reader


def _lagrangian_series(settings, arrays, windows, times, total_length):
    """Each range's windows in the Lagrangian frame (cached), one a row:
    the arrays, windows `(range, row)`, window start times and motions."""
    if settings.context_length >= total_length:
        raise ValueError(
            f"[data] context_length ({settings.context_length}) leaves no "
            f"frame to predict in sequences of {total_length}"
        )
    starts = [[s for a, s in windows if a == i] for i in range(len(arrays))]
    lagrangian, motions = [], []
    for array, range_starts in zip(arrays, starts):
        frames, motion = cache_lagrangian(
            array, range_starts, total_length, settings
        )
        lagrangian.append(frames)
        motions.append(motion)
    rows = [(a, row) for a in range(len(arrays)) for row in range(len(starts[a]))]
    start_times = [
        [times[a][s] for s in range_starts]
        for a, range_starts in enumerate(starts)
    ]
    return lagrangian, rows, start_times, motions


def _split_series(settings: RadarSettings, split: str, total_length: int):
    """The cached frames of each time range of `split`, source by source,
    the windows `(range, first frame)` of its sequences and the times of
    its frames.

    Raises:
        DataError: a gap in a range, or no range holding a whole sequence.
    """
    arrays, windows, times, sizes = [], [], [], {}
    for source in settings.sources:
        if not source.splits[split]:
            continue
        found = find_radar_files(source.root, source.pattern)
        for first, last in source.splits[split]:
            files = series_files(
                found,
                first,
                last,
                source.timestep,
                source.root,
                source.pattern,
            )
            starts = np.arange(
                0, len(files) - total_length + 1, source.stride
            )
            array = cache_series(files, source)
            windows.extend((len(arrays), int(s)) for s in starts)
            arrays.append(array)
            times.append([t for t, _ in files])
            sizes[source.name] = pixel_size(array, source)
    if not windows:
        ranges = ", ".join(
            f"[{a:%Y-%m-%d %H:%M}, {b:%Y-%m-%d %H:%M}]"
            for source in settings.sources
            for a, b in source.splits[split]
        )
        raise DataError(
            settings.root,
            f"the {split} split is empty: its time ranges {ranges or '(none)'} "
            f"hold no {total_length} consecutive frames at "
            f"{settings.timestep}-minute steps",
        )
    _check_pixel_sizes(sizes, settings, split)
    known = [km for km in sizes.values() if km is not None]
    pixel_km = float(np.mean(known)) if known else None
    return arrays, windows, times, pixel_km


def _check_pixel_sizes(sizes: dict, settings, split: str) -> None:
    """Raises when the sources of a split have pixels of different sizes
    (more than 2 % apart), naming two of them."""
    known = {name: km for name, km in sizes.items() if km is not None}
    if len(known) < 2:
        return
    small = min(known, key=known.get)
    large = max(known, key=known.get)
    if known[large] > 1.02 * known[small]:
        raise DataError(
            settings.root,
            f"the {split} split's sources have pixels of "
            f"{known[small]:.2f} km ({small}) and {known[large]:.2f} km "
            f"({large}); choose crops of the same extent in km for the "
            "common image_size",
        )


def _coverage(
    arrays: list[MappedArray], settings: RadarSettings, split: str
) -> np.ndarray:
    """(H, W) bool: the pixels with data in every frame of `arrays`.

    Raises:
        DataError: ranges with fields of different sizes.
    """
    coverage = np.ones(arrays[0].shape[1:3], bool)
    for array in arrays:
        if array.shape[1:3] != coverage.shape:
            raise DataError(
                settings.root,
                f"the {split} split's ranges have fields of different sizes "
                f"({array.shape[1]}x{array.shape[2]} and "
                f"{coverage.shape[0]}x{coverage.shape[1]}); set image_size",
            )
        with array.mapped() as frames:
            coverage &= np.isfinite(frames).all(axis=0)
    return coverage


def radar_frame_shape(config: Mapping) -> tuple[int, int]:
    """(height, width) of the frames, reading one file if neither
    `image_size` nor `crop` gives it."""
    settings = radar_settings(config)
    if settings.image_size is not None:
        return settings.image_size
    if settings.crop is not None:
        return settings.crop[2:]
    found = find_radar_files(settings.root, settings.pattern)
    first = settings.splits["train"][0][0]
    path = found.get(first) or found[min(found)]
    return read_radar_file(
        path, settings, get_importer(settings.importer)
    ).shape
