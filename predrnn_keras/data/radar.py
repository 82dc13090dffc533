"""Radar composites: a time series of radar files read through pysteps.

The files are found under `path` by a file name `pattern` with time codes
(`%Y%m%d/AQC%y%j%H%M?_00005.801.gif`), read by one of pysteps' importers
(`importer`, with `importer_options`), converted to rain rate (mm/h) or
reflectivity (dBZ), cropped (`crop`) and averaged down to `image_size`,
and decoded once into a memory-mapped cache. Each split is a list of time
ranges (`train_times`, `val_times`, `test_times`): whole events or blocks of
one, with no frame shared between splits. A file missing inside a range is
an error, not a silent jump in time. Sequences are windows of consecutive
frames within one range, `stride` frames apart.

Values reach the model through `RadarTransform` (the dB transform with a
threshold, scaled to [0, 1]; `predrnn_keras.nowcasting.transform`), whose
exact inverse turns predictions back into mm/h or dBZ for the scores.
No-data pixels (NaN in the importer's field) count as no rain for the
model; the pixels without data in some frame of a split are outside its
`coverage`, which the scores leave out.

pysteps and the readers of the formats (h5py, netCDF4) are the optional
radar extra, imported only when this reader is used.
"""

import dataclasses
import datetime
import json
import os
import re
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.frame_cache import default_cache_dir
from predrnn_keras.data.frame_cache import fingerprint
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.sequence_reader import SequenceReader
from predrnn_keras.nowcasting.extra import INSTALL
from predrnn_keras.nowcasting.extra import MissingExtraError
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.transform import UNITS
from predrnn_keras.nowcasting.transform import RadarTransform

TIMES = (
    "a list of [first, last] times ('2015-05-15 15:45'), one per event or "
    "block"
)
DEFAULT_THRESHOLD = {"mm/h": 0.1, "dBZ": 10.0}
DEFAULT_MAX_VALUE = {"mm/h": 100.0, "dBZ": 70.0}
KEYS = {
    "path": config_checks.DataKey(
        "a path", None, "required: the folder the file pattern starts from"
    ),
    "pattern": config_checks.DataKey(
        "a string",
        None,
        "required: file path under `path` with time codes %Y %y %m %d %j %H "
        "%M %S and wildcards ? and *, e.g. "
        "'%Y%m%d/AQC%y%j%H%M?_00005.801.gif'",
    ),
    "importer": config_checks.DataKey(
        "a pysteps importer name",
        None,
        "required: how to read a file, e.g. mch_gif, knmi_hdf5, bom_rf3, "
        "odim_hdf5 (pysteps.io.importers)",
    ),
    "importer_options": config_checks.DataKey(
        "a table",
        {},
        "keyword arguments of the importer, e.g. {product = 'AQC', unit = "
        "'mm', accutime = 5.0} for mch_gif",
    ),
    "timestep": config_checks.DataKey(
        "an integer >= 1", None, "required: minutes between frames"
    ),
    "unit": config_checks.DataKey(
        "'mm/h' or 'dBZ'", "mm/h", "rain rate or reflectivity"
    ),
    "threshold": config_checks.DataKey(
        "a number",
        None,
        "the smallest value that is rain (below: the dB transform's zero "
        "value); default 0.1 mm/h or 10 dBZ",
    ),
    "max_value": config_checks.DataKey(
        "a number > threshold",
        None,
        "the value mapped to 1 (larger ones are clipped); default 100 mm/h "
        "or 70 dBZ",
    ),
    "crop": config_checks.DataKey(
        "a list [top, left, height, width] of integers",
        None,
        "the region of the importer's field that is kept, in its pixels; "
        "default: the whole field",
    ),
    "image_size": config_checks.DataKey(
        "an integer or [height, width]",
        None,
        "frame size after averaging the (cropped) field down; default: kept",
    ),
    "stride": config_checks.DataKey(
        "an integer >= 1", 1, "frames between the starts of sequences"
    ),
    "augment": config_checks.DataKey(
        "true or false",
        False,
        "training split only: each sequence also rotated by 90, 180 and 270 "
        "degrees and mirrored (8 variants; mirrored only, 2 variants, for "
        "frames that are not square)",
    ),
    "train_times": config_checks.DataKey(TIMES, None, "required: training"),
    "val_times": config_checks.DataKey(
        TIMES, None, "validation; default: test_times"
    ),
    "test_times": config_checks.DataKey(TIMES, None, "required: test"),
    "cache_dir": config_checks.CACHE_DIR,
}
_CACHE_VERSION = 1
_PROGRESS_SECONDS = 30.0
# Time codes of `pattern`, as regular expressions of their digits.
_CODES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "j": r"\d{3}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
}
_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                 "%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------- settings


def radar_transform(config: Mapping) -> RadarTransform:
    """The transform a `[data]` table of kind "radar" sets, reading no file."""
    unit = config_checks.get_choice(config, "unit", UNITS, "mm/h")
    threshold = _number(config, "threshold", DEFAULT_THRESHOLD[unit])
    max_value = _number(config, "max_value", DEFAULT_MAX_VALUE[unit])
    try:
        return RadarTransform(unit, threshold, max_value)
    except ValueError as error:
        raise ValueError(f"[data] of kind radar: {error}") from None


def to_model_units(config: Mapping, values: Sequence[float]) -> list[float]:
    """Values in the data's unit (e.g. loss thresholds in mm/h) as the
    model's [0, 1] values."""
    return radar_transform(config).to_model_units(values)


def _number(config: Mapping, key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"Expected [data] {key} to be a number. Received: {key}={value!r}"
        )
    return float(value)


def _required(config: Mapping, key: str):
    if config.get(key) is None:
        raise ValueError(
            f"Expected [data] {key} for kind='radar': {KEYS[key].doc}"
        )
    return config[key]


def parse_time(key: str, value) -> datetime.datetime:
    """A time of a `*_times` key: a TOML datetime or a string."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        for form in _TIME_FORMATS:
            try:
                return datetime.datetime.strptime(value.strip(), form)
            except ValueError:
                pass
    raise ValueError(
        f"Expected [data] {key} to hold times like '2015-05-15 15:45'. "
        f"Received: {value!r}"
    )


def get_time_ranges(
    config: Mapping, key: str, default=None
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """`config[key]`: a non-empty list of [first, last] times, first <= last."""
    value = config.get(key, default)
    if value is None:
        raise ValueError(f"Expected [data] {key}: {TIMES} (required)")
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or not value
        or not all(
            isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2
            for r in value
        )
    ):
        raise ValueError(
            f"Expected [data] {key} to be {TIMES}. Received: {key}={value!r}"
        )
    ranges = []
    for first, last in value:
        first, last = parse_time(key, first), parse_time(key, last)
        if last < first:
            raise ValueError(
                f"Expected [data] {key} ranges to end after they start. "
                f"Received: [{first}, {last}]"
            )
        ranges.append((first, last))
    return ranges


def _crop(config: Mapping) -> "tuple[int, int, int, int] | None":
    value = config.get("crop")
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] >= 0
        and value[1] >= 0
        and value[2] > 0
        and value[3] > 0
    ):
        return tuple(value)
    raise ValueError(
        "Expected [data] crop to be a list [top, left, height, width] of "
        f"integers (top, left >= 0; height, width > 0). Received: crop={value!r}"
    )


@dataclasses.dataclass(frozen=True)
class RadarSettings:
    """The checked `[data]` table of kind "radar"."""

    root: Path
    pattern: str
    importer: str
    importer_options: dict
    timestep: int
    transform: RadarTransform
    crop: "tuple[int, int, int, int] | None"
    image_size: "tuple[int, int] | None"
    stride: int
    augment: bool
    splits: dict
    cache_dir: "Path | None"

    @property
    def unit(self) -> str:
        return self.transform.unit


def radar_settings(config: Mapping) -> RadarSettings:
    """Checks a `[data]` table of kind "radar"; opens no file.

    Raises:
        ValueError: an unknown key, a missing required key or a bad value,
            one line naming it.
    """
    config_checks.check_keys(config, "radar", KEYS)
    root = config_checks.get_path(config)
    pattern = _required(config, "pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(
            f"Expected [data] pattern to be a string. Received: {pattern!r}"
        )
    importer = _required(config, "importer")
    if not isinstance(importer, str):
        raise ValueError(
            f"Expected [data] importer to be a string. Received: {importer!r}"
        )
    options = config.get("importer_options", {})
    if not isinstance(options, Mapping):
        raise ValueError(
            "Expected [data] importer_options to be a table. "
            f"Received: importer_options={options!r}"
        )
    timestep = config_checks.get_int(config, "timestep", _required(config, "timestep"))
    test = get_time_ranges(config, "test_times")
    splits = {
        "train": get_time_ranges(config, "train_times"),
        "val": get_time_ranges(config, "val_times", config.get("test_times")),
        "test": test,
    }
    _check_disjoint(splits, config.get("val_times") is None)
    cache_dir = (
        config_checks.get_path(config, "cache_dir")
        if config.get("cache_dir") is not None
        else None
    )
    return RadarSettings(
        root=root,
        pattern=pattern,
        importer=importer,
        importer_options=dict(options),
        timestep=timestep,
        transform=radar_transform(config),
        crop=_crop(config),
        image_size=config_checks.get_image_size(config),
        stride=config_checks.get_int(config, "stride", 1),
        augment=config_checks.get_choice(config, "augment", (True, False), False),
        splits=splits,
        cache_dir=cache_dir,
    )


def _check_disjoint(splits: dict, val_is_test: bool) -> None:
    """Raises `ValueError` when two splits' time ranges share a time."""
    names = ("train", "val", "test") if not val_is_test else ("train", "test")
    for i, a in enumerate(names):
        for b in names[i:]:
            pairs = [
                (r, s)
                for n, r in enumerate(splits[a])
                for m, s in enumerate(splits[b])
                if a != b or n < m
            ]
            for (first_a, last_a), (first_b, last_b) in pairs:
                if first_a <= last_b and first_b <= last_a:
                    where = "a range of" if a == b else "ranges of"
                    splits_text = a if a == b else f"{a} and {b}"
                    raise ValueError(
                        f"[data] {where} {splits_text}_times overlap: "
                        f"[{first_a}, {last_a}] and [{first_b}, {last_b}] "
                        "share frames; splits must not share a frame"
                    )


# ------------------------------------------------------------- file finding


def pattern_regex(pattern: str) -> re.Pattern:
    """The regular expression of a file pattern, with a group per time code.

    Raises:
        ValueError: an unknown time code.
    """
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "%" and index + 1 < len(pattern):
            code = pattern[index + 1]
            if code == "%":
                parts.append("%")
            elif code in _CODES:
                parts.append(f"(?P<{code}{index}>{_CODES[code]})")
            else:
                raise ValueError(
                    f"Expected [data] pattern to use the time codes "
                    f"{' '.join('%' + c for c in _CODES)}. Received: "
                    f"%{code} in {pattern!r}"
                )
            index += 2
            continue
        parts.append({"?": "[^/]", "*": "[^/]*"}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(parts))


def _time_of(match: re.Match) -> datetime.datetime:
    fields = {}
    for name, digits in match.groupdict().items():
        fields.setdefault(name[0], int(digits))
    year = fields.get("Y", 2000 + fields.get("y", 0))
    if "j" in fields:
        day = datetime.datetime(year, 1, 1) + datetime.timedelta(
            days=fields["j"] - 1
        )
    else:
        day = datetime.datetime(year, fields.get("m", 1), fields.get("d", 1))
    return day.replace(
        hour=fields.get("H", 0),
        minute=fields.get("M", 0),
        second=fields.get("S", 0),
    )


def find_radar_files(root: Path, pattern: str) -> dict:
    """Maps the time of every file under `root` matching `pattern` to it.

    Where a wildcard lets two files share a time, the first in sorted order
    is taken.

    Raises:
        DataError: `root` is missing or no file matches.
    """
    if not root.is_dir():
        raise DataError(root, "folder not found")
    regex = pattern_regex(pattern)
    found = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory) / name
            match = regex.fullmatch(path.relative_to(root).as_posix())
            if match:
                try:
                    moment = _time_of(match)
                except ValueError:
                    continue  # digits that are no date, e.g. month 13
                found.setdefault(moment, path)
    if not found:
        raise DataError(
            root, f"no file matches the pattern {pattern!r} under this folder"
        )
    return found


def series_files(
    found: dict,
    first: datetime.datetime,
    last: datetime.datetime,
    timestep: int,
    root: Path,
    pattern: str,
) -> list[tuple[datetime.datetime, Path]]:
    """The files of every time step from `first` to `last`.

    Raises:
        DataError: a time step without a file (a gap in the time series).
    """
    step = datetime.timedelta(minutes=timestep)
    files, moment = [], first
    while moment <= last:
        if moment not in found:
            known = sorted(found)
            raise DataError(
                root,
                f"no file for {moment:%Y-%m-%d %H:%M} (pattern {pattern!r}): "
                f"a gap in the time series {first:%Y-%m-%d %H:%M} to "
                f"{last:%Y-%m-%d %H:%M} at {timestep}-minute steps; the files "
                f"found run from {known[0]:%Y-%m-%d %H:%M} to "
                f"{known[-1]:%Y-%m-%d %H:%M}; split the range at the gap",
            )
        files.append((moment, found[moment]))
        moment += step
    return files


# ------------------------------------------------------------------ decoding


def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) weights of area averaging `source` pixels to
    `target`: each output pixel is the mean of the inputs it covers, partial
    pixels weighted by the covered fraction."""
    edges = np.arange(target + 1) * (source / target)
    left = np.maximum(np.arange(source)[None, :], edges[:-1, None])
    right = np.minimum(np.arange(1, source + 1)[None, :], edges[1:, None])
    return np.clip(right - left, 0.0, None) / (source / target)


def area_resize(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Averages a (H, W) field with NaN holes down (or up) to `size`.

    An output pixel is the mean of the valid inputs it covers, or NaN where
    less than half of what it covers is valid.
    """
    if field.shape == tuple(size):
        return field.astype(np.float32)
    rows = area_weights(field.shape[0], size[0])
    cols = area_weights(field.shape[1], size[1])
    valid = np.isfinite(field)
    total = rows @ np.where(valid, field, 0.0) @ cols.T
    share = rows @ valid.astype(np.float64) @ cols.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(share >= 0.5, total / share, np.nan)
    return out.astype(np.float32)


def get_importer(name: str):
    """pysteps' importer function `name`.

    Raises:
        ValueError: an unknown importer (the message lists the known ones).
    """
    io = require("pysteps.io")
    try:
        return io.get_method(name, "importer")
    except ValueError:
        known = sorted(io.interface._importer_methods)
        raise ValueError(
            f"Expected [data] importer to be a pysteps importer, one of "
            f"{', '.join(known)}. Received: importer={name!r}"
        ) from None


def read_radar_file(path: Path, settings: RadarSettings, importer) -> np.ndarray:
    """One file as a float32 (H, W) field in the settings' unit, cropped and
    resized, NaN where there is no data.

    Raises:
        DataError: the importer cannot read the file, or the crop does not
            fit in its field.
    """
    conversion = require("pysteps.utils.conversion")
    exceptions = require("pysteps.exceptions")
    try:
        field, _, metadata = importer(str(path), **settings.importer_options)
        field = np.asarray(field, np.float64)
        if settings.unit == "mm/h":
            field, _ = conversion.to_rainrate(field, metadata)
        else:
            field, _ = conversion.to_reflectivity(field, metadata)
    except MissingExtraError:
        raise
    except exceptions.MissingOptionalDependency as error:
        # The importer's format package (h5py, netCDF4, ...) is missing.
        message = " ".join(str(error).split())
        raise MissingExtraError(
            f"radar data: {message}; install the radar extra: {INSTALL}"
        ) from None
    except Exception as error:  # pysteps and its readers raise many types
        message = " ".join(str(error).split()) or type(error).__name__
        raise DataError(
            path,
            f"the importer {settings.importer} cannot read it "
            f"({type(error).__name__}: {message})",
        ) from None
    field = np.asarray(field, np.float64)
    if field.ndim != 2:
        raise DataError(
            path, f"the importer returned a field of shape {field.shape}; "
            "expected one 2-D field"
        )
    if settings.crop is not None:
        top, left, height, width = settings.crop
        if top + height > field.shape[0] or left + width > field.shape[1]:
            raise DataError(
                path,
                f"crop {list(settings.crop)} does not fit in its field of "
                f"{field.shape[0]}x{field.shape[1]} pixels",
            )
        field = field[top:top + height, left:left + width]
    if settings.image_size is not None:
        field = area_resize(field, settings.image_size)
    return field.astype(np.float32)


def _cache_folder(settings: RadarSettings, files) -> Path:
    key = {
        "version": _CACHE_VERSION,
        "importer": settings.importer,
        "options": settings.importer_options,
        "unit": settings.unit,
        "crop": settings.crop,
        "image_size": settings.image_size,
    }
    digest = fingerprint(key, [(str(time), file) for time, file in files])
    root = settings.cache_dir
    if root is None:
        root = default_cache_dir()
    return Path(root) / f"radar-{digest}"


def cache_series(
    files: list[tuple[datetime.datetime, Path]], settings: RadarSettings
) -> MappedArray:
    """Decodes a range's files once into a float32 (T, H, W) .npy file.

    A cache written before is opened without decoding; the file appears
    only once complete, so a killed run leaves nothing half-written.
    """
    folder = _cache_folder(settings, files)
    path = folder / "frames.npy"
    if not path.is_file():
        importer = get_importer(settings.importer)
        folder.mkdir(parents=True, exist_ok=True)
        label = f"{len(files)} radar files"
        print(f"Decoding {label} once into the cache {folder}")
        start = last_report = time.monotonic()
        frames = []
        for number, (_, file) in enumerate(files):
            field = read_radar_file(file, settings, importer)
            if frames and field.shape != frames[0].shape:
                raise DataError(
                    file,
                    f"field of {field.shape[0]}x{field.shape[1]} pixels, but "
                    f"earlier files have {frames[0].shape[0]}x"
                    f"{frames[0].shape[1]}; set crop or image_size in [data]",
                )
            frames.append(field)
            if time.monotonic() - last_report > _PROGRESS_SECONDS:
                last_report = time.monotonic()
                print(f"  {number + 1}/{len(files)} files decoded")
        staged = folder / f"frames.{os.getpid()}.tmp.npy"
        np.save(staged, np.stack(frames))
        (folder / "times.json").write_text(
            json.dumps([f"{t:%Y-%m-%d %H:%M:%S}" for t, _ in files])
        )
        os.replace(staged, path)
        print(f"  {label} decoded in {time.monotonic() - start:.0f} s")
    return MappedArray(path)


# -------------------------------------------------------------------- reader


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
    ):
        frame_shape = (*arrays[0].shape[1:3], 1)
        square = frame_shape[0] == frame_shape[1]
        self.variants = (8 if square else 2) if augment else 1
        super().__init__(
            name, len(windows) * self.variants, total_length, frame_shape,
            details,
        )
        self.arrays = arrays
        self.windows = np.asarray(windows, np.int64).reshape(-1, 2)
        self.times = times
        self.transform = transform
        self.timestep = timestep
        self.coverage = coverage

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
                    out[row] = array[start:start + self.total_length]
        if self.variants > 1:
            for row, variant in enumerate(indices % self.variants):
                out[row] = _variant(out[row], int(variant), self.variants)
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
    get_importer(settings.importer)
    found = find_radar_files(settings.root, settings.pattern)
    arrays, windows, times = [], [], []
    for first, last in settings.splits[split]:
        files = series_files(
            found, first, last, settings.timestep, settings.root,
            settings.pattern,
        )
        starts = np.arange(0, len(files) - total_length + 1, settings.stride)
        array = cache_series(files, settings)
        windows.extend((len(arrays), int(s)) for s in starts)
        arrays.append(array)
        times.append([t for t, _ in files])
    if not windows:
        ranges = ", ".join(
            f"[{a:%Y-%m-%d %H:%M}, {b:%Y-%m-%d %H:%M}]"
            for a, b in settings.splits[split]
        )
        raise DataError(
            settings.root,
            f"the {split} split is empty: its time ranges {ranges} hold no "
            f"{total_length} consecutive frames at {settings.timestep}-minute "
            "steps",
        )
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
    count = len(arrays)
    augment = settings.augment and split == "train"
    return RadarReader(
        str(settings.root),
        arrays,
        np.array(windows, np.int64),
        times,
        total_length,
        settings.transform,
        settings.timestep,
        coverage,
        details=(
            f"{count} time range{'s' if count != 1 else ''} at "
            f"{settings.timestep} min, {settings.unit}, "
            f"{coverage.mean():.0%} of pixels covered"
            + (", rotated and mirrored" if augment else "")
        ),
        augment=augment,
    )


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
    return read_radar_file(path, settings, get_importer(settings.importer)).shape
