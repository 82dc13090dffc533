"""The `[data]` table of kind "radar": its keys, their checks, `RadarSettings`.

Each split is a list of time ranges (`train_times`, `val_times`,
`test_times`): whole events or blocks of one, with no frame shared between
splits. Values reach the model through the `RadarTransform` that `unit`,
`threshold` and `max_value` set (`radar_transform`). Everything here reads
the table only, no file.
"""

import dataclasses
import datetime
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

from predrnn_keras.data import config_checks
from predrnn_keras.nowcasting.baselines import check_motion_method
from predrnn_keras.nowcasting.baselines import min_context
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
    "frame": config_checks.DataKey(
        "'eulerian' or 'lagrangian'",
        "eulerian",
        "the frame the model sees: the fields as observed, or moved along "
        "the motion of the context into the frame of its last field, the "
        "forecast advected back (predrnn_keras.nowcasting.lagrangian)",
    ),
    "motion": config_checks.DataKey(
        "a motion method: LK, DARTS, VET, proesmans, farneback or constant",
        "LK",
        "how the Lagrangian frame estimates the motion from the context "
        "(pysteps.motion)",
    ),
    "context_length": config_checks.DataKey(
        "an integer >= 2",
        None,
        "with frame = 'lagrangian': frames of context, the model's "
        "input_length (required there)",
    ),
    "probability_matching": config_checks.DataKey(
        "'none' or 'cdf'",
        "none",
        "cdf: each field the model forecasts takes the values of the last "
        "observed field, rank for rank (pysteps' probability matching, as "
        "S-PROG does): the model's pattern, the observed rain area and "
        "intensities (predrnn_keras.nowcasting.matching)",
    ),
    "train_times": config_checks.DataKey(TIMES, None, "required: training"),
    "val_times": config_checks.DataKey(
        TIMES, None, "validation; default: test_times"
    ),
    "test_times": config_checks.DataKey(TIMES, None, "required: test"),
    "sources": config_checks.DataKey(
        "a list of tables, one per source",
        None,
        "several radar sources in one data set ([[data.sources]] tables): "
        "each holds its own path, pattern, importer, importer_options, "
        "timestep, crop and *_times (and a name for messages); the other "
        "keys are common. Each source is cropped and averaged down to "
        "image_size, and the crops must cover the same extent, so that the "
        "pixels have one size; a source whose time step divides the common "
        "timestep is read at every common step. Windows never span two "
        "sources or two time ranges",
    ),
    "cache_dir": config_checks.CACHE_DIR,
}
# The keys each table of `sources` holds; the rest of [data] is common.
SOURCE_KEYS = (
    "name",
    "path",
    "pattern",
    "importer",
    "importer_options",
    "timestep",
    "crop",
    "train_times",
    "val_times",
    "test_times",
)
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
)


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
        "integers (top, left >= 0; height, width > 0). "
        f"Received: crop={value!r}"
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
    frame: str = "eulerian"
    motion: str = "LK"
    context_length: "int | None" = None
    probability_matching: str = "none"
    name: str = ""
    parts: tuple = ()

    @property
    def unit(self) -> str:
        return self.transform.unit

    @property
    def sources(self) -> tuple:
        """The settings of each source: `parts` of a table with `sources`,
        else this one."""
        return self.parts or (self,)


def radar_settings(config: Mapping) -> RadarSettings:
    """Checks a `[data]` table of kind "radar"; opens no file.

    With `sources`, the result describes the first source, and `sources`
    holds every source's settings (with the common keys).

    Raises:
        ValueError: an unknown key, a missing required key or a bad value,
            one line naming it.
    """
    config_checks.check_keys(config, "radar", KEYS)
    sources = config.get("sources")
    if sources is None:
        return _source_settings(config, config.get("timestep"), "", True)
    if (
        isinstance(sources, (str, bytes, Mapping))
        or not isinstance(sources, Sequence)
        or not sources
        or not all(isinstance(t, Mapping) for t in sources)
    ):
        raise ValueError(
            "Expected [data] sources to be a non-empty list of tables "
            f"([[data.sources]]). Received: sources={sources!r}"
        )
    shared = [k for k in SOURCE_KEYS if k in config and k != "timestep"]
    if shared:
        raise ValueError(
            f"[data] {shared[0]} belongs in each [[data.sources]] table "
            "when sources are listed"
        )
    common = {k: v for k, v in config.items() if k != "sources"}
    names = [str(t.get("name") or f"sources[{i}]") for i, t in enumerate(sources)]
    for name, table in zip(names, sources):
        unknown = [k for k in table if k not in SOURCE_KEYS]
        if unknown:
            raise ValueError(
                f"Unknown key '{unknown[0]}' in the [data] source {name}. "
                f"Accepted keys: {', '.join(SOURCE_KEYS)}."
            )
    timestep = _common_timestep(config, sources, names)
    parts = []
    for name, table in zip(names, sources):
        try:
            parts.append(
                _source_settings({**common, **table}, timestep, name, False)
            )
        except ValueError as error:
            raise ValueError(f"[data] source {name}: {error}") from None
    if not any(part.splits["train"] for part in parts):
        raise ValueError(
            "Expected [data] train_times in at least one source"
        )
    return dataclasses.replace(parts[0], parts=tuple(parts))


def _common_timestep(config: Mapping, sources, names) -> int:
    """The common time step: `timestep`, or the sources' when they agree;
    each source's must divide it.

    Raises:
        ValueError: steps that do not combine.
    """
    steps = {}
    for name, table in zip(names, sources):
        step = table.get("timestep", config.get("timestep"))
        if step is None:
            raise ValueError(
                f"Expected [data] timestep for the source {name}: {KEYS['timestep'].doc}"
            )
        steps[name] = config_checks.get_int({"timestep": step}, "timestep", 1)
    if config.get("timestep") is not None:
        common = config_checks.get_int(config, "timestep", 1)
    elif len(set(steps.values())) == 1:
        common = next(iter(steps.values()))
    else:
        listed = ", ".join(f"{n} {s} min" for n, s in steps.items())
        raise ValueError(
            f"[data] sources with different time steps ({listed}): set "
            "[data] timestep to a common step that each of them divides"
        )
    for name, step in steps.items():
        if common % step:
            raise ValueError(
                f"[data] source {name} has {step}-minute steps, which do not "
                f"combine into the common timestep of {common} minutes (a "
                f"multiple of {step} is needed)"
            )
    return common


def _source_settings(
    config: Mapping, timestep, name: str, single: bool
) -> RadarSettings:
    """The settings of one source: `config` holds its keys and the common
    ones; `timestep` is the common step (None: the source's own)."""
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
    if timestep is None:
        timestep = _required(config, "timestep")
    timestep = config_checks.get_int({"timestep": timestep}, "timestep", 1)
    splits = _splits(config, single)
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
        augment=config_checks.get_choice(
            config, "augment", (True, False), False
        ),
        splits=splits,
        cache_dir=cache_dir,
        name=name or str(root),
        **_frame(config),
    )


def _splits(config: Mapping, single: bool) -> dict:
    """The time ranges of each split; one source alone needs train_times
    and test_times, each of several may leave any out."""
    def ranges(key, default=None):
        if not single and config.get(key, default) is None:
            return []
        return get_time_ranges(config, key, default)

    splits = {
        "train": ranges("train_times"),
        "val": ranges("val_times", config.get("test_times")),
        "test": ranges("test_times"),
    }
    _check_disjoint(splits, config.get("val_times") is None)
    return splits


def _frame(config: Mapping) -> dict:
    """The `frame`, `motion`, `context_length` and `probability_matching`
    keys, checked."""
    frame = config_checks.get_choice(
        config, "frame", ("eulerian", "lagrangian"), "eulerian"
    )
    try:
        motion = check_motion_method(config.get("motion", "LK"))
    except ValueError as error:
        raise ValueError(f"[data] motion: {error}") from None
    length = config.get("context_length")
    if length is not None:
        length = config_checks.get_int(config, "context_length", 2, low=2)
        if length < min_context(motion):
            raise ValueError(
                f"Expected [data] context_length >= {min_context(motion)}: "
                f"motion {motion} estimates from {min_context(motion)} "
                f"fields at least. Received: context_length={length}"
            )
    elif frame == "lagrangian":
        raise ValueError(
            "Expected [data] context_length with frame = 'lagrangian': the "
            "model's input_length, the frames the motion is estimated from"
        )
    matching = config_checks.get_choice(
        config, "probability_matching", ("none", "cdf"), "none"
    )
    return {
        "frame": frame,
        "motion": motion,
        "context_length": length,
        "probability_matching": matching,
    }


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
