"""Several radar sources in one data set (`[data] sources`): KNMI HDF5 and
MeteoSwiss GIF files the tests write, each cropped and averaged down to a
common pixel size, read at a common time step; windows never span two
sources or a gap; steps and pixel sizes that do not combine are one-line
errors."""

import datetime

import numpy as np
import pytest

pytest.importorskip("pysteps")
pytest.importorskip("h5py")

from predrnn_keras.data import DataError  # noqa: E402
from predrnn_keras.data import make_reader  # noqa: E402
from predrnn_keras.data import radar  # noqa: E402
from tests.radar_files import write_knmi_series  # noqa: E402
from tests.radar_files import write_mch_gif  # noqa: E402
from tests.test_data_radar import one_line_error  # noqa: E402

KNMI_START = datetime.datetime(2010, 8, 26, 0, 0)
MCH_START = datetime.datetime(2016, 7, 11, 10, 0)
STEP = datetime.timedelta(minutes=5)
MCH_OPTIONS = {"product": "AQC", "unit": "mm", "accutime": 5.0}


@pytest.fixture(autouse=True)
def no_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def stamp(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def knmi_source(tmp_path, count=10, size=16, **extra) -> dict:
    """A KNMI source (1 km pixels): frame `i` holds i / 100 mm everywhere."""
    config = write_knmi_series(
        tmp_path / "knmi",
        KNMI_START,
        count,
        size,
        lambda i, side: np.full((side, side), (i + 1) / 100.0),
        splits=(count - 4, 2, 2),
    )
    table = {
        k: config[k]
        for k in ("path", "pattern", "importer", "timestep", "train_times")
    }
    table["test_times"] = config["test_times"]
    return {"name": "knmi", **table, **extra}


def mch_source(tmp_path, count=6, size=8, timestep=5, **extra) -> dict:
    """A MeteoSwiss source (1 km pixels) of `count` files `timestep`
    minutes apart: digital number 100 + 10 i in frame i."""
    root = tmp_path / "mch"
    for index in range(count):
        moment = MCH_START + index * datetime.timedelta(minutes=timestep)
        name = f"{moment:%Y%m%d}/AQC{moment:%y%j%H%M}V_00005.801.gif"
        write_mch_gif(root / name, np.full((size, size), 100 + 10 * index))
    last = MCH_START + (count - 1) * datetime.timedelta(minutes=timestep)
    return {
        "name": "mch",
        "path": str(root),
        "pattern": "%Y%m%d/AQC%y%j%H%M?_00005.801.gif",
        "importer": "mch_gif",
        "importer_options": MCH_OPTIONS,
        "timestep": timestep,
        "train_times": [[stamp(MCH_START), stamp(last)]],
        **extra,
    }


def two_sources(tmp_path, **common) -> dict:
    return {
        "kind": "radar",
        "image_size": 8,
        "max_value": 1000.0,
        "cache_dir": str(tmp_path / "cache"),
        "sources": [
            knmi_source(tmp_path, crop=[0, 0, 16, 16]),
            mch_source(tmp_path, crop=[0, 0, 16, 16], size=16),
        ],
        **common,
    }


def test_windows_of_each_source_never_span_two(tmp_path):
    config = two_sources(tmp_path)
    reader = make_reader(config, "train", 3)
    # KNMI: 6 training frames, 4 windows; MeteoSwiss: 6 frames, 4 windows.
    assert reader.num_sequences == 8
    assert "2 sources, 2 time ranges" in reader.details
    times = reader.start_times
    assert times[:4] == [KNMI_START + i * STEP for i in range(4)]
    assert times[4:] == [MCH_START + i * STEP for i in range(4)]
    frames = reader.read_physical(np.arange(8))
    # Each window's frames come from one source, consecutive in time.
    knmi = (np.arange(6) + 1) / 100.0 * 12.0  # mm/h
    np.testing.assert_allclose(frames[1, :, 0, 0], knmi[1:4], rtol=1e-5)
    mch = frames[4:, :, 0, 0]
    assert np.all(np.diff(mch, axis=1) > 0)
    assert not np.any(np.isin(np.round(mch, 4), np.round(knmi, 4)))
    # The test split is KNMI's alone.
    assert make_reader(config, "test", 2).num_sequences == 1


def test_sources_are_averaged_to_a_common_pixel_size(tmp_path):
    # 16 pixels of 1 km averaged to 8: 2 km pixels in both sources.
    config = two_sources(tmp_path)
    settings = radar.radar_settings(config)
    assert [s.name for s in settings.sources] == ["knmi", "mch"]
    assert all(s.image_size == (8, 8) for s in settings.sources)
    reader = make_reader(config, "train", 3)
    assert reader.frame_shape == (8, 8, 1)
    # A crop of another extent gives pixels of another size: refused.
    config["sources"][1]["crop"] = [0, 0, 8, 8]
    message = one_line_error(DataError, make_reader, config, "train", 3)
    assert "1.00 km (mch) and 2.00 km (knmi)" in message


def test_a_finer_time_step_is_read_at_the_common_step(tmp_path):
    config = two_sources(tmp_path, timestep=10)
    config["sources"][0] = knmi_source(tmp_path, count=14, crop=[0, 0, 16, 16])
    config["sources"][1] = mch_source(
        tmp_path, count=4, timestep=10, size=16, crop=[0, 0, 16, 16]
    )
    reader = make_reader(config, "train", 3)
    assert reader.timestep == 10
    # KNMI: 10 training frames at 5 minutes are 5 at 10, 3 windows.
    knmi = reader.read_physical([0])[0, :, 0, 0]
    np.testing.assert_allclose(knmi, np.array([1, 3, 5]) / 100 * 12, rtol=1e-5)
    assert reader.start_times[:3] == [
        KNMI_START + i * 2 * STEP for i in range(3)
    ]
    assert reader.num_sequences == 3 + 2


def test_steps_that_do_not_combine_are_one_line_errors(tmp_path):
    config = two_sources(tmp_path)
    config["sources"][1]["timestep"] = 10
    message = one_line_error(ValueError, radar.radar_settings, config)
    assert "knmi 5 min, mch 10 min" in message
    config["timestep"] = 15
    message = one_line_error(ValueError, radar.radar_settings, config)
    assert "source mch has 10-minute steps" in message
    assert "common timestep of 15 minutes" in message


def test_a_gap_inside_a_source_is_an_error(tmp_path):
    config = two_sources(tmp_path)
    source = config["sources"][1]
    first = MCH_START
    source["train_times"] = [[stamp(first), stamp(first + 9 * STEP)]]
    message = one_line_error(DataError, make_reader, config, "train", 3)
    assert "a gap in the time series" in message


@pytest.mark.parametrize(
    "change, match",
    [
        ({"path": "elsewhere"}, "path belongs in each"),
        ({"sources": []}, "non-empty list of tables"),
        ({"sources": [{"name": "x", "colour": 1}]}, "Unknown key 'colour'"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path, change, match):
    config = {**two_sources(tmp_path), **change}
    one_line_error(ValueError, radar.radar_settings, config, match=match)


def test_a_source_without_training_ranges_is_fine_but_not_all(tmp_path):
    config = two_sources(tmp_path)
    config["sources"][1].pop("train_times")
    config["sources"][1]["test_times"] = [[stamp(MCH_START), stamp(MCH_START)]]
    assert make_reader(config, "train", 3).num_sequences == 4
    config["sources"][0].pop("train_times")
    one_line_error(
        ValueError, radar.radar_settings, config, match="train_times"
    )


def test_a_folder_is_read_with_the_source_whose_pattern_matches(tmp_path):
    from predrnn_keras.data.kinds.radar_forecast import find_radar_folder
    from predrnn_keras.data.kinds.radar_forecast import read_fields

    config = two_sources(tmp_path)
    config["sources"][0]["crop"] = [0, 0, 8, 8]
    config["sources"][1]["crop"] = [0, 0, 16, 16]
    # Each folder read with its own source's pattern, importer and crop.
    mch = find_radar_folder(tmp_path / "mch", config, 3, 2, score=False)
    assert mch.settings.importer == "mch_gif" and mch.found == 6
    assert mch.times[-1] == MCH_START + 5 * STEP
    knmi = find_radar_folder(tmp_path / "knmi", config, 3, 2, score=False)
    assert knmi.settings.importer == "knmi_hdf5" and knmi.found == 10
    assert knmi.settings.crop == (0, 0, 8, 8)
    fields = read_fields(knmi, (8, 8, 1))
    np.testing.assert_allclose(
        fields[:, 0, 0], np.arange(8, 11) / 100.0 * 12.0, rtol=1e-5
    )
    # A folder that no source's pattern matches names every pattern.
    (tmp_path / "other").mkdir()
    message = one_line_error(
        DataError, find_radar_folder, tmp_path / "other", config, 3, 2, False
    )
    assert "knmi: '%Y/%m/RAD_NL25_RAP" in message and "mch: '%Y%m%d/AQC" in message
