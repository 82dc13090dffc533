"""Tests of the radar reader (`kind = "radar"`): files in the real formats of
pysteps' importers (KNMI HDF5, BoM Rainfields3 NetCDF, MeteoSwiss GIF), the
unit conversion, crop and area averaging, the file pattern, the time-range
splits, the cache, the dB transform to [0, 1] and the one-line errors."""

import datetime
import sys

import numpy as np
import pytest

pytest.importorskip("pysteps")
pytest.importorskip("h5py")
pytest.importorskip("netCDF4")

import pysteps.io.importers  # noqa: E402
import pysteps.io.interface  # noqa: E402
from pysteps.utils.transformation import dB_transform  # noqa: E402

from predrnn_keras.data import DataError  # noqa: E402
from predrnn_keras.data import build_dataset  # noqa: E402
from predrnn_keras.data import dataset_info  # noqa: E402
from predrnn_keras.data import make_reader  # noqa: E402
from predrnn_keras.data import radar  # noqa: E402
from predrnn_keras.data.radar import series  # noqa: E402
from predrnn_keras.nowcasting.extra import MissingExtraError  # noqa: E402
from predrnn_keras.nowcasting.transform import RadarTransform  # noqa: E402
from tests import radar_files  # noqa: E402
from tests.radar_files import knmi_path  # noqa: E402
from tests.radar_files import write_bom_nc  # noqa: E402
from tests.radar_files import write_knmi_hdf5  # noqa: E402
from tests.radar_files import write_knmi_series  # noqa: E402
from tests.radar_files import write_mch_gif  # noqa: E402

START = datetime.datetime(2010, 8, 26, 0, 0)
STEP = datetime.timedelta(minutes=5)
HEIGHT, WIDTH = 16, 12


@pytest.fixture(autouse=True)
def no_default_cache(tmp_path, monkeypatch):
    """Any cache without cache_dir lands in tmp_path, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def stamp(index: int, start=START, step=STEP) -> str:
    return f"{start + index * step:%Y-%m-%d %H:%M}"


def knmi_field(index: int, size=(HEIGHT, WIDTH)) -> np.ndarray:
    """mm per 5 minutes, in hundredths: 0 (below every threshold), values
    from 0.01 mm up, one pixel of 10 mm (120 mm/h, above max_value), one
    pixel without data in every frame and one only in frame 2."""
    height, width = size
    field = np.arange(height * width, dtype=np.float64).reshape(height, width)
    field = np.round((field * 3 + 7 * index) % 400 / 100.0, 2)
    field[0, 0] = 0.0
    field[0, 1] = 10.0
    field[1, 1] = np.nan
    if index == 2:
        field[3, 4] = np.nan
    return field


def knmi_config(tmp_path, count=8, splits=(4, 2, 2), **extra):
    config = write_knmi_series(
        tmp_path / "knmi", START, count, (HEIGHT, WIDTH), knmi_field,
        splits=splits,
    )
    return {**config, **extra}


def counting_importer(monkeypatch, name="knmi_hdf5"):
    """Replaces importer `name` by one that counts its calls."""
    real = pysteps.io.interface._importer_methods[name]
    calls = []

    def importer(filename, **kwargs):
        calls.append(filename)
        return real(filename, **kwargs)

    monkeypatch.setitem(pysteps.io.interface._importer_methods, name, importer)
    return calls


def one_line_error(error_type, function, *args, match=None):
    with pytest.raises(error_type, match=match) as info:
        function(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------ formats


def test_knmi_hdf5_values_in_mm_per_hour_and_the_transform(tmp_path):
    config = knmi_config(tmp_path)
    reader = make_reader(config, "train", 3)
    # Train: frames 0-3, windows starting at 0 and 1.
    assert reader.num_sequences == 2
    assert reader.frame_shape == (HEIGHT, WIDTH, 1)
    assert reader.start_times == [START, START + STEP]
    assert reader.timestep == 5
    physical = reader.read_physical(np.array([1, 0]))
    assert physical.shape == (2, 3, HEIGHT, WIDTH)
    assert physical.dtype == np.float32
    # mm per 5 minutes -> mm/h: x 12.
    windows = [[knmi_field(i) for i in range(s, s + 3)] for s in (1, 0)]
    expected = np.array(windows) * 12
    np.testing.assert_allclose(physical, expected, rtol=1e-6, equal_nan=True)
    assert physical[0, 0, 0, 1] == pytest.approx(120.0)
    batch = reader.read_batch(np.array([1, 0]))
    assert batch.shape == (2, 3, HEIGHT, WIDTH, 1)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(
        batch, reader.transform.forward(physical)[..., None]
    )
    # By hand, default threshold 0.1 and max_value 100 mm/h: dBR from -15
    # (no rain) to 20 mapped to [0, 1].
    value = knmi_field(2)[2, 3] * 12
    assert batch[1, 2, 2, 3, 0] == pytest.approx(
        (10 * np.log10(value) + 15) / 35, rel=1e-6
    )
    assert batch[0, 0, 0, 0, 0] == 0.0  # 0 mm: no rain
    assert batch[0, 0, 0, 1, 0] == 1.0  # 120 mm/h: clipped to max_value
    # No data: 0 for the model, outside the split's coverage.
    assert np.isnan(physical[:, :, 1, 1]).all()
    assert np.isnan(physical[1, 2, 3, 4])
    assert (batch[:, :, 1, 1] == 0).all() and batch[1, 2, 3, 4, 0] == 0
    assert np.isfinite(batch).all()
    assert reader.coverage.shape == (HEIGHT, WIDTH)
    assert not reader.coverage[1, 1] and not reader.coverage[3, 4]
    assert reader.coverage.sum() == HEIGHT * WIDTH - 2
    # The test split (frames 6-7) has data at (3, 4).
    test = make_reader(config, "test", 2)
    assert test.coverage[3, 4] and not test.coverage[1, 1]
    np.testing.assert_allclose(
        test.read_physical([0])[0],
        np.stack([knmi_field(6), knmi_field(7)]) * 12,
        rtol=1e-6,
        equal_nan=True,
    )
    assert "of pixels covered" in reader.details


def test_knmi_hdf5_reflectivity_in_dbz_and_as_rain_rate(tmp_path):
    values = np.array(
        [
            [-32.0, 7.0, 10.0, 20.5],
            [35.0, 52.5, 70.0, 80.0],
            [np.nan, 15.0, 40.0, 30.0],
        ]
    )
    for index in range(2):
        write_knmi_hdf5(
            knmi_path(tmp_path / "dbz", START + index * STEP),
            values + index,
            qty="DBZH",
        )
    config = {
        "kind": "radar",
        "path": str(tmp_path / "dbz"),
        "pattern": radar_files.KNMI_PATTERN,
        "importer": "knmi_hdf5",
        "importer_options": {"qty": "DBZH"},
        "timestep": 5,
        "unit": "dBZ",
        "train_times": [[stamp(0), stamp(1)]],
        "test_times": [[stamp(5), stamp(6)]],
        "cache_dir": str(tmp_path / "cache"),
    }
    reader = make_reader(config, "train", 2)
    physical = reader.read_physical([0])[0]
    expected = np.stack([values, values + 1])
    # pysteps counts each field's smallest value (-32, -31 dBZ) as no echo.
    rain = np.isfinite(expected) & (expected > -31)
    np.testing.assert_allclose(physical[rain], expected[rain], rtol=1e-6)
    assert (physical[:, 0, 0] < 10).all()
    assert np.isnan(physical[:, 2, 0]).all()
    batch = reader.read_batch([0])[0, ..., 0]
    # dBZ: threshold 10, no echo 5 dBZ, max_value 70, linear in between.
    np.testing.assert_allclose(
        batch[0, 1], [(35 - 5) / 65, (52.5 - 5) / 65, 1.0, 1.0], rtol=1e-6
    )
    assert batch[0, 0, 1] == 0.0 and batch[0, 0, 2] == pytest.approx(5 / 65)
    assert batch[0, 0, 0] == 0.0 and batch[0, 2, 0] == 0.0
    # The same files as rain rates through Z = 200 R^1.6.
    as_rate = {**config, "unit": "mm/h", "cache_dir": str(tmp_path / "c2")}
    rate = make_reader(as_rate, "train", 2).read_physical([0])[0]
    np.testing.assert_allclose(
        rate[rain], (10 ** (expected[rain] / 10) / 200) ** (1 / 1.6), rtol=1e-5
    )


def test_bom_rf3_netcdf_values(tmp_path):
    start = datetime.datetime(2018, 6, 16, 10, 0)
    step = datetime.timedelta(minutes=6)
    root = tmp_path / "bom"
    fields = []
    for index in range(4):
        field = np.round(
            np.arange(8 * 10, dtype=np.float64).reshape(8, 10) * 0.05
            + 0.05 * index,
            2,
        )
        field[0, 0] = 0.0
        field[7, 9] = np.nan
        fields.append(field)
        moment = start + index * step
        write_bom_nc(
            root / f"2_{moment:%Y%m%d_%H%M%S}.prcp-cscn.nc", field, moment
        )
    config = {
        "kind": "radar",
        "path": str(root),
        "pattern": "2_%Y%m%d_%H%M%S.prcp-cscn.nc",
        "importer": "bom_rf3",
        "timestep": 6,
        "train_times": [["2018-06-16 10:00", "2018-06-16 10:12"]],
        "test_times": [["2018-06-16 10:18", "2018-06-16 10:18"]],
        "cache_dir": str(tmp_path / "cache"),
    }
    reader = make_reader(config, "train", 2)
    assert reader.num_sequences == 2
    assert reader.frame_shape == (8, 10, 1)
    physical = reader.read_physical([0, 1])
    # mm per 6 minutes -> mm/h: x 10.
    expected = np.stack([np.stack(fields[s:s + 2]) * 10 for s in (0, 1)])
    np.testing.assert_allclose(physical, expected, rtol=1e-6, equal_nan=True)
    batch = reader.read_batch([0, 1])
    np.testing.assert_array_equal(
        batch, reader.transform.forward(physical)[..., None]
    )
    assert (batch[:, :, 7, 9] == 0).all()
    assert not reader.coverage[7, 9] and reader.coverage.sum() == 79


def test_mch_gif_values_with_day_of_year_names(tmp_path):
    numbers = np.array(
        [[0, 1, 2, 71], [100, 150, 200, 250], [251, 254, 255, 120]], np.uint8
    )
    start = datetime.datetime(2016, 7, 11, 10, 0)
    root = tmp_path / "mch"
    for index in range(3):
        moment = start + index * STEP
        name = f"{moment:%Y%m%d}/AQC{moment:%y%j%H%M}V_00005.801.gif"
        write_mch_gif(root / name, numbers)
    config = {
        "kind": "radar",
        "path": str(root),
        "pattern": "%Y%m%d/AQC%y%j%H%M?_00005.801.gif",
        "importer": "mch_gif",
        "importer_options": {"product": "AQC", "unit": "mm", "accutime": 5.0},
        "timestep": 5,
        "max_value": 1000.0,
        "train_times": [["2016-07-11 10:00", "2016-07-11 10:05"]],
        "test_times": [["2016-07-11 10:10", "2016-07-11 10:10"]],
        "cache_dir": str(tmp_path / "cache"),
    }
    physical = make_reader(config, "train", 2).read_physical([0])[0]
    # The AQC digital numbers: mm per 5 minutes through Z = 316 R^1.5 with
    # dBZ = (DN - 71.5) / 2; 0, 1 and 251-254 no rain, 255 no data.
    expected = (10 ** ((numbers - 71.5) / 20) / 316) ** (1 / 1.5) * 12
    expected[numbers < 2] = 0
    expected[(numbers > 250) & (numbers < 255)] = 0
    expected[numbers == 255] = np.nan
    np.testing.assert_allclose(
        physical, np.stack([expected, expected]), rtol=1e-5, equal_nan=True
    )


# ------------------------------------------------------- crop and averaging


def test_crop_and_area_averaging_with_no_data(tmp_path):
    field = np.round(
        np.arange(16 * 16, dtype=np.float64).reshape(16, 16) / 100.0, 2
    )
    field[4:8, 4:8].flat[:8] = np.nan  # half the block valid: its mean
    field[8:12, 0:4].flat[:9] = np.nan  # 7 of 16 valid: no data
    for index in range(2):
        write_knmi_hdf5(knmi_path(tmp_path / "k", START + index * STEP), field)
    config = {
        "kind": "radar",
        "path": str(tmp_path / "k"),
        "pattern": radar_files.KNMI_PATTERN,
        "importer": "knmi_hdf5",
        "timestep": 5,
        "crop": [4, 0, 8, 12],
        "image_size": [2, 3],
        "train_times": [[stamp(0), stamp(1)]],
        "test_times": [[stamp(4), stamp(4)]],
        "cache_dir": str(tmp_path / "cache"),
    }
    reader = make_reader(config, "train", 2)
    assert reader.frame_shape == (2, 3, 1)
    got = reader.read_physical([0])[0, 0]
    cropped = field[4:12, 0:12] * 12
    expected = np.array(
        [
            [np.nanmean(cropped[r:r + 4, c:c + 4]) for c in (0, 4, 8)]
            for r in (0, 4)
        ]
    )
    expected[1, 0] = np.nan
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert reader.coverage.tolist() == [[True, True, True], [False, True, True]]
    only_crop = make_reader({**config, "image_size": None}, "train", 2)
    np.testing.assert_allclose(
        only_crop.read_physical([0])[0, 1], cropped, rtol=1e-6, equal_nan=True
    )


def test_area_resize_weights():
    block = np.arange(16, dtype=np.float64).reshape(4, 4)
    assert radar.area_resize(block, (1, 1)).item() == pytest.approx(7.5)
    # 3 -> 2 pixels: the middle one is shared half and half.
    np.testing.assert_allclose(
        radar.area_weights(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]]
    )
    row = np.array([[3.0, 6.0, 9.0]])
    np.testing.assert_allclose(radar.area_resize(row, (1, 2)), [[4.0, 8.0]])
    half = block.copy()
    half[:2] = np.nan
    assert radar.area_resize(half, (1, 1)).item() == pytest.approx(11.5)
    half[2, 0] = np.nan
    assert np.isnan(radar.area_resize(half, (1, 1)).item())
    # The same size: kept as it is, as float32.
    same = radar.area_resize(block, (4, 4))
    assert same.dtype == np.float32 and (same == block).all()


# ----------------------------------------------------------- file patterns


def test_pattern_regex():
    regex = radar.pattern_regex("%Y%m%d/AQC%y%j%H%M?_00005.801.gif")
    match = regex.fullmatch("20160711/AQC161931005V_00005.801.gif")
    assert match is not None
    assert series._time_of(match) == datetime.datetime(2016, 7, 11, 10, 5)
    assert regex.fullmatch("20160711/AQC161931005VV_00005.801.gif") is None
    assert regex.fullmatch("20160711/AQC161931005/_00005.801.gif") is None
    assert regex.fullmatch("20160711/AQC161931005V_00005x801.gif") is None
    # %j alone gives the date; * matches within one folder; %% is a %.
    regex = radar.pattern_regex("x%y%j*_%H%M%S%%.h5")
    match = regex.fullmatch("x16366any_thing_235959%.h5")
    moment = series._time_of(match)
    assert moment == datetime.datetime(2016, 12, 31, 23, 59, 59)
    assert regex.fullmatch("x16366a/b_235959%.h5") is None
    message = one_line_error(ValueError, radar.pattern_regex, "%Y%q.h5")
    assert "%q" in message and "%Y %y %m %d %j %H %M %S" in message


def test_find_radar_files(tmp_path):
    names = [
        "20160711/AQC161931000V_00005.801.gif",
        "20160711/AQC161931005X_00005.801.gif",
        "20160711/AQC161931005V_00005.801.gif",  # same time: sorts first
        "20160712/AQC161940000V_00005.801.gif",
        "20160711/AQC161931010V_00005.801.txt",  # not the pattern
        "AQC161931015V_00005.801.gif",  # not in a day folder
        "2016/07/RAD_NL25_RAP_5min_201607111000.h5",
        "2016/13/RAD_NL25_RAP_5min_201613111005.h5",  # month 13: no date
    ]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = radar.find_radar_files(
        tmp_path, "%Y%m%d/AQC%y%j%H%M?_00005.801.gif"
    )
    day = datetime.datetime(2016, 7, 11, 10, 0)
    assert found == {
        day: tmp_path / names[0],
        day + STEP: tmp_path / names[2],
        datetime.datetime(2016, 7, 12): tmp_path / names[3],
    }
    assert radar.find_radar_files(tmp_path, radar_files.KNMI_PATTERN) == {
        day: tmp_path / names[6]
    }
    files = radar.series_files(found, day, day + STEP, 5, tmp_path, "p")
    assert files == [
        (day, tmp_path / names[0]),
        (day + STEP, tmp_path / names[2]),
    ]
    message = one_line_error(
        DataError, radar.find_radar_files, tmp_path, "%Y/RAD_%Y%m%d%H%M.h5"
    )
    assert message.startswith(f"{tmp_path}: no file matches the pattern")
    one_line_error(
        DataError,
        radar.find_radar_files,
        tmp_path / "nowhere",
        "%Y.h5",
        match="nowhere: folder not found",
    )


# ------------------------------------------------------------------ splits


def test_windows_per_split_with_stride_and_no_shared_frame(tmp_path):
    config = write_knmi_series(
        tmp_path / "knmi", START, 16, 8, splits=(8, 4, 4)
    )
    config["stride"] = 2
    readers = {s: make_reader(config, s, 3) for s in ("train", "val", "test")}
    # Train: frames 0-7, starts 0, 2, 4; val 8-11 and test 12-15: start 0.
    assert readers["train"].start_times == [START + k * STEP for k in (0, 2, 4)]
    assert readers["val"].start_times == [START + 8 * STEP]
    assert readers["test"].start_times == [START + 12 * STEP]

    def frames(reader):
        return {t + k * STEP for t in reader.start_times for k in range(3)}

    assert not frames(readers["train"]) & frames(readers["test"])
    assert not frames(readers["train"]) & frames(readers["val"])
    assert not frames(readers["val"]) & frames(readers["test"])
    # Two training ranges: windows stay within each; frames 5-7 are val.
    two = {
        **config,
        "stride": 1,
        "train_times": [[stamp(0), stamp(4)], [stamp(8), stamp(11)]],
        "val_times": [[stamp(5), stamp(7)]],
    }
    train = make_reader(two, "train", 3)
    assert train.start_times == [
        START + k * STEP for k in (0, 1, 2, 8, 9)
    ]
    assert len(train.arrays) == 2
    blob = [radar_files.rain_blob(k, 8) * 12 for k in range(16)]
    np.testing.assert_allclose(
        train.read_physical([3, 0]),
        np.stack([np.stack(blob[8:11]), np.stack(blob[0:3])]),
        rtol=1e-6,
        atol=1e-6,
    )
    # val defaults to test.
    no_val = {k: v for k, v in config.items() if k != "val_times"}
    assert make_reader(no_val, "val", 3).start_times == [START + 12 * STEP]
    one_line_error(
        DataError,
        make_reader,
        config,
        "test",
        5,
        match="the test split is empty: its time ranges "
        r"\[2010-08-26 01:00, 2010-08-26 01:15\] hold no 5 consecutive",
    )


@pytest.mark.parametrize(
    "times, names",
    [
        ({"train_times": [["2010-08-26 01:20", "2010-08-26 01:40"]]},
         "ranges of train and test_times overlap"),
        ({"val_times": [["2010-08-26 00:30", "2010-08-26 00:35"]]},
         "ranges of train and val_times overlap"),
        ({"val_times": [["2010-08-26 01:05", "2010-08-26 01:10"]]},
         "ranges of val and test_times overlap"),
        ({"train_times": [["2010-08-26 00:00", "2010-08-26 00:20"],
                          ["2010-08-26 00:20", "2010-08-26 00:30"]]},
         "a range of train_times overlap"),
    ],
)
def test_overlapping_splits_are_an_error(tmp_path, times, names):
    config = {
        "kind": "radar",
        "path": str(tmp_path),
        "pattern": "%Y%m%d%H%M.h5",
        "importer": "knmi_hdf5",
        "timestep": 5,
        "train_times": [["2010-08-26 00:00", "2010-08-26 00:50"]],
        "val_times": [["2010-08-26 00:55", "2010-08-26 01:00"]],
        "test_times": [["2010-08-26 01:05", "2010-08-26 01:30"]],
        **times,
    }
    message = one_line_error(ValueError, radar.radar_settings, config)
    assert names in message and "must not share a frame" in message


# ------------------------------------------------------------------- cache


def test_cache_is_reused_and_keyed_on_the_settings(
    tmp_path, monkeypatch, capsys
):
    config = knmi_config(tmp_path)
    calls = counting_importer(monkeypatch)
    first = make_reader(config, "train", 3)
    assert len(calls) == 4
    out = capsys.readouterr().out
    assert "Decoding 4 radar files once into the cache" in out
    cache = tmp_path / "knmi-cache"
    (folder,) = cache.iterdir()
    mtime = (folder / "frames.npy").stat().st_mtime_ns
    assert (folder / "times.json").is_file()
    second = make_reader(config, "train", 2)
    assert len(calls) == 4
    assert "Decoding" not in capsys.readouterr().out
    assert (folder / "frames.npy").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(
        second.read_physical([0]), first.read_physical([0])[:, :2]
    )
    # The transform's settings are not part of the cache key; a setting of
    # the decoding (image_size) makes a new cache.
    make_reader({**config, "threshold": 0.5}, "train", 3)
    assert len(calls) == 4
    smaller = make_reader({**config, "image_size": 4}, "train", 3)
    assert len(calls) == 8
    assert len(list(cache.iterdir())) == 2
    assert smaller.frame_shape == (4, 4, 1)
    # A rewritten file is decoded again.
    write_knmi_hdf5(knmi_path(tmp_path / "knmi", START), knmi_field(5))
    changed = make_reader(config, "train", 3)
    assert len(calls) == 12
    np.testing.assert_allclose(
        changed.read_physical([0])[0, 0], knmi_field(5) * 12, rtol=1e-6,
        equal_nan=True,
    )


# --------------------------------------------------------------- transform


@pytest.mark.parametrize(
    "unit, threshold, max_value",
    [
        ("mm/h", 0.1, 100.0),
        ("mm/h", 0.5, 60.0),
        ("mm/h", 1.0, 200.0),
        ("dBZ", 10.0, 70.0),
        ("dBZ", 0.0, 60.0),
        ("dBZ", 7.5, 55.0),
    ],
)
def test_transform_round_trip(unit, threshold, max_value):
    transform = RadarTransform(unit, threshold, max_value)
    if unit == "mm/h":
        values = np.geomspace(threshold, max_value, 301)
    else:
        values = np.linspace(threshold, max_value, 301)
    values = np.concatenate([[threshold, max_value], values])
    scaled = transform.forward(values)
    assert scaled.dtype == np.float32
    assert scaled.min() > 0 and scaled.max() == 1.0
    assert np.all(np.diff(scaled[2:]) > 0)
    np.testing.assert_allclose(
        transform.inverse(scaled), values, rtol=1e-5, atol=1e-6
    )
    below = threshold * 0.99 if unit == "mm/h" else threshold - 0.1
    no_rain = 0.0 if unit == "mm/h" else transform.zero_db
    nothing = 0.0 if unit == "mm/h" else threshold - 20
    scaled = transform.forward(
        np.array([below, nothing, np.nan, max_value * 1.5, np.inf])
    )
    np.testing.assert_array_equal(scaled, [0, 0, 0, 1, 1])
    back = transform.inverse(np.array([0.0, scaled[0], 1.0, 1.7, -0.5]))
    np.testing.assert_allclose(
        back, [no_rain, no_rain, max_value, max_value, no_rain], rtol=1e-6
    )
    # Model values between 0 and the threshold's are no rain.
    lowest = transform.forward(np.array([threshold]))[0]
    assert transform.inverse(np.array([lowest * 0.999]))[0] == np.float32(
        no_rain
    )


def test_transform_mm_per_hour_is_pysteps_db_scaled_linearly():
    transform = RadarTransform("mm/h", 0.1, 100.0)
    rates = np.array([[0.0, 0.05, 0.1, 0.3], [1.0, 12.5, 100.0, 250.0]])
    db, _ = dB_transform(rates, threshold=0.1, zerovalue=-15.0)
    expected = np.clip((db + 15.0) / 35.0, 0, 1)
    np.testing.assert_allclose(transform.forward(rates), expected, rtol=1e-6)
    np.testing.assert_allclose(transform.to_db(rates), db)
    assert transform.threshold_db == pytest.approx(-10.0)
    assert transform.zero_db == pytest.approx(-15.0)
    assert transform.max_db == pytest.approx(20.0)
    assert np.isnan(transform.to_db(np.array([np.nan]))[0])


def test_transform_dbz_branch():
    transform = RadarTransform("dBZ", 10.0, 70.0)
    values = np.array([-10.0, 9.9, 10.0, 37.5, 70.0, 75.0, np.nan])
    np.testing.assert_allclose(
        transform.to_db(values), [5, 5, 10, 37.5, 70, 75, np.nan]
    )
    np.testing.assert_allclose(
        transform.forward(values), [0, 0, 5 / 65, 32.5 / 65, 1, 1, 0],
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (("mm", 0.1, 100.0), "Expected unit to be one of mm/h, dBZ"),
        (("mm/h", 0.0, 100.0), "Expected threshold > 0 mm/h"),
        (("dBZ", 40.0, 30.0), "Expected max_value > threshold"),
    ],
)
def test_transform_bad_settings(args, message):
    assert message in one_line_error(ValueError, RadarTransform, *args)


def test_to_model_units(tmp_path):
    config = {"kind": "radar", "path": str(tmp_path)}
    np.testing.assert_allclose(
        radar.to_model_units(config, [0.05, 0.1, 1.0, 10.0, 100.0, 500.0]),
        [0, 5 / 35, 15 / 35, 25 / 35, 1, 1],
        rtol=1e-6,
    )
    dbz = {**config, "unit": "dBZ", "threshold": 20, "max_value": 60}
    np.testing.assert_allclose(
        radar.to_model_units(dbz, [15, 20, 35, 60]),
        [0, 5 / 45, 20 / 45, 1],
        rtol=1e-6,
    )
    assert isinstance(radar.to_model_units(config, [1.0])[0], float)
    message = one_line_error(
        ValueError, radar.to_model_units, {**config, "max_value": 0.05}, [1]
    )
    assert message.startswith("[data] of kind radar: Expected max_value")
    one_line_error(
        ValueError,
        radar.to_model_units,
        {**config, "threshold": "0.1"},
        [1],
        match="Expected \\[data\\] threshold to be a number",
    )
    one_line_error(
        ValueError,
        radar.to_model_units,
        {**config, "unit": "mm"},
        [1],
        match="Expected \\[data\\] unit to be one of",
    )


# ------------------------------------------------------------------ errors


def test_missing_pysteps_is_a_missing_extra_error(tmp_path, monkeypatch):
    config = knmi_config(tmp_path, count=4, splits=(2, 1, 1))
    for name in [m for m in sys.modules if m.split(".")[0] == "pysteps"]:
        monkeypatch.setitem(sys.modules, name, None)
    message = one_line_error(MissingExtraError, make_reader, config, "train", 2)
    assert "pysteps" in message and "requirements-radar.txt" in message
    assert isinstance(MissingExtraError("x"), ImportError)


def test_missing_format_package_is_a_missing_extra_error(
    tmp_path, monkeypatch
):
    config = knmi_config(tmp_path, count=4, splits=(2, 1, 1))
    monkeypatch.setattr(pysteps.io.importers, "H5PY_IMPORTED", False)
    message = one_line_error(MissingExtraError, make_reader, config, "train", 2)
    assert "h5py" in message and "requirements-radar.txt" in message


def test_unreadable_file(tmp_path):
    config = knmi_config(tmp_path, count=6, splits=(2, 2, 2))
    bad = knmi_path(tmp_path / "knmi", START + STEP)
    bad.write_bytes(b"not an HDF5 file" * 8)
    message = one_line_error(DataError, make_reader, config, "train", 2)
    assert message.startswith(f"{bad}: the importer knmi_hdf5 cannot read it (")
    # The other splits' files are read.
    assert make_reader(config, "test", 2).num_sequences == 1


def test_unknown_importer_and_no_matching_file(tmp_path):
    config = knmi_config(tmp_path, count=4, splits=(2, 1, 1))
    message = one_line_error(
        ValueError, make_reader, {**config, "importer": "knmi_h5"}, "train", 2
    )
    assert "Received: importer='knmi_h5'" in message
    assert "knmi_hdf5" in message and "bom_rf3" in message
    assert "mch_gif" in message
    message = one_line_error(
        DataError,
        make_reader,
        {**config, "pattern": "%Y/%m/RAD_NL21_%Y%m%d%H%M.h5"},
        "train",
        2,
    )
    assert message == (
        f"{tmp_path / 'knmi'}: no file matches the pattern "
        "'%Y/%m/RAD_NL21_%Y%m%d%H%M.h5' under this folder"
    )


def test_gap_in_the_time_series(tmp_path):
    config = knmi_config(tmp_path)
    knmi_path(tmp_path / "knmi", START + 2 * STEP).unlink()
    message = one_line_error(DataError, make_reader, config, "train", 2)
    assert message.startswith(
        f"{tmp_path / 'knmi'}: no file for 2010-08-26 00:10"
    )
    assert "a gap in the time series 2010-08-26 00:00 to 2010-08-26 00:15" in (
        message
    )
    # A split without the gap reads.
    assert make_reader(config, "test", 2).num_sequences == 1


def test_crop_too_large(tmp_path):
    config = knmi_config(tmp_path, count=4, splits=(2, 1, 1))
    message = one_line_error(
        DataError, make_reader, {**config, "crop": [4, 0, 13, 12]}, "train", 2
    )
    assert message == (
        f"{knmi_path(tmp_path / 'knmi', START)}: crop [4, 0, 13, 12] does "
        f"not fit in its field of {HEIGHT}x{WIDTH} pixels"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"timestamp": 5},
         "Unknown key 'timestamp' in the [data] table for kind='radar'. "
         "Did you mean 'timestep'?"),
        ({"pattern": None}, "Expected [data] pattern for kind='radar'"),
        ({"importer": None}, "Expected [data] importer for kind='radar'"),
        ({"timestep": None}, "Expected [data] timestep for kind='radar'"),
        ({"path": None}, "Expected [data] path to be a path (required)"),
        ({"train_times": None}, "Expected [data] train_times: a list"),
        ({"test_times": None}, "Expected [data] test_times: a list"),
        ({"timestep": 0}, "Expected [data] timestep to be an integer >= 1"),
        ({"crop": [0, 0, 4]}, "Expected [data] crop to be a list"),
        ({"crop": [-1, 0, 4, 4]}, "Received: crop=[-1, 0, 4, 4]"),
        ({"image_size": [4]}, "Expected [data] image_size"),
        ({"stride": 0}, "Expected [data] stride to be an integer >= 1"),
        ({"importer_options": 3}, "Expected [data] importer_options"),
        ({"train_times": [["2010-08-26", "2010-08-26 00:10"]]},
         "Expected [data] train_times to hold times like"),
        ({"train_times": ["2010-08-26 00:00"]},
         "Expected [data] train_times to be a list of [first, last]"),
        ({"train_times": [["2010-08-26 00:10", "2010-08-26 00:00"]]},
         "Expected [data] train_times ranges to end after they start"),
        ({"unit": "mm"}, "Expected [data] unit to be one of"),
    ],
)
def test_bad_data_table(tmp_path, change, message):
    config = knmi_config(tmp_path, count=4, splits=(2, 1, 1))
    config = {k: v for k, v in {**config, **change}.items() if v is not None}
    got = one_line_error(ValueError, make_reader, config, "train", 2)
    assert message in got


# ----------------------------------------------------------- the pipeline


def test_build_dataset_and_dataset_info(tmp_path, monkeypatch):
    config = write_knmi_series(tmp_path / "knmi", START, 12, 16)
    config["image_size"] = 8
    train = build_dataset(
        config, "train", batch_size=2, total_length=4, patch_size=2
    )
    batch = next(iter(train)).numpy()
    assert batch.shape == (2, 4, 8, 8, 1) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0 and batch.max() > 0.5
    test = np.concatenate(
        [b.numpy() for b in build_dataset(config, "test", 2, total_length=3)]
    )
    assert test.shape == (1, 3, 8, 8, 1)
    reader = make_reader(config, "test", 3)
    np.testing.assert_array_equal(test, reader.read_batch([0]))
    one_line_error(
        DataError,
        build_dataset,
        config,
        "train",
        2,
        4,
        3,
        match="frames of 8x8 are not divisible by patch_size=3",
    )

    # The frame shape without decoding: from image_size or crop.
    def no_import(*args, **kwargs):
        raise AssertionError("a file was decoded")

    monkeypatch.setitem(
        pysteps.io.interface._importer_methods, "knmi_hdf5", no_import
    )
    info = dataset_info(config)
    assert (info.kind, info.frame_shape) == ("radar", (8, 8, 1))
    cropped = {**config, "image_size": None, "crop": [0, 2, 10, 12]}
    assert dataset_info(cropped).frame_shape == (10, 12, 1)
    monkeypatch.undo()
    # Neither: one file is read.
    assert dataset_info({**config, "image_size": None}).frame_shape == (
        16, 16, 1,
    )


def test_a_file_of_no_data_is_named_when_read(tmp_path):
    def outage(index, size):
        field = knmi_field(index, size)
        return np.full(size, np.nan) if index == 3 else field

    config = write_knmi_series(
        tmp_path / "knmi", START, 8, (HEIGHT, WIDTH), outage, splits=(4, 2, 2)
    )
    message = one_line_error(DataError, make_reader, config, "train", 3)
    assert message == (
        f"{knmi_path(tmp_path / 'knmi', START + 3 * STEP)}: every pixel of "
        f"its {HEIGHT}x{WIDTH} field is no-data (an outage?); leave its time "
        "out of the split's time ranges, or remove the file"
    )
