"""Nowcasting skill scores: contingency tables, FSS, tables, CSV and plot."""

import csv
import io
import math

import numpy as np
import pytest

pytest.importorskip("pysteps")

from predrnn_keras.nowcasting import score_plots  # noqa: E402
from predrnn_keras.nowcasting import scores  # noqa: E402
from predrnn_keras.nowcasting import tables  # noqa: E402
from predrnn_keras.nowcasting.scores import NowcastScores  # noqa: E402

# One forecast, one lead time, 2 x 5 pixels. Values equal to a threshold
# (1.0 and 3.0) are events: an event is a value >= threshold.
OBSERVED = np.array([[0.0, 2.0, 3.0, 0.5, 1.0], [0.0, 0.0, 5.0, 0.0, 2.0]])
FORECAST = np.array([[1.0, 2.0, 0.0, 0.0, 4.0], [0.0, 0.0, 6.0, 3.0, 0.0]])


def as_batch(*fields):
    """2-D fields -> (batch, lead=1, H, W)."""
    return np.stack(fields)[:, None]


def expected_scores(h, m, f, c):
    """The categorical scores of a contingency table, by their formulas."""
    n = h + m + f + c
    hits_random = (h + m) * (h + f) / n
    return {
        "CSI": h / (h + m + f),
        "POD": h / (h + m),
        "FAR": f / (h + f),
        "HSS": 2 * (h * c - m * f) / ((h + m) * (m + c) + (h + f) * (f + c)),
        "ETS": (h - hits_random) / (h + m + f - hits_random),
    }


def score_at(result, name, threshold_index, lead=0):
    return result[name][lead][threshold_index]


def test_categorical_scores_match_the_hand_worked_tables():
    metric = NowcastScores([1.0, 3.0], [1], [5])
    metric.update(as_batch(FORECAST), as_batch(OBSERVED))
    result = metric.result()
    # Threshold 1: observed events at (0,1) (0,2) (0,4)=1.0 (1,2) (1,4);
    # forecast events at (0,0)=1.0 (0,1) (0,4) (1,2) (1,3).
    # hits H = 3: (0,1) (0,4) (1,2); misses M = 2: (0,2) (1,4);
    # false alarms F = 2: (0,0) (1,3); correct negatives C = 3; N = 10.
    # CSI = H/(H+M+F) = 3/7, POD = H/(H+M) = 3/5, FAR = F/(H+F) = 2/5,
    # HSS = 2(HC-MF)/((H+M)(M+C)+(H+F)(F+C)) = 2(9-4)/(25+25) = 1/5,
    # ETS = (H-Hr)/(H+M+F-Hr), Hr = (H+M)(H+F)/N = 2.5: 0.5/4.5 = 1/9.
    hand_1 = dict(CSI=3 / 7, POD=3 / 5, FAR=2 / 5, HSS=1 / 5, ETS=1 / 9)
    # Threshold 3: observed events (0,2)=3.0 (1,2); forecast events (0,4)
    # (1,2) (1,3)=3.0. H = 1: (1,2); M = 1: (0,2); F = 2: (0,4) (1,3);
    # C = 6; N = 10. CSI = 1/4, POD = 1/2, FAR = 2/3,
    # HSS = 2(6-2)/((2)(7)+(3)(8)) = 8/38 = 4/19,
    # ETS: Hr = 2*3/10 = 0.6, (1-0.6)/(4-0.6) = 2/17.
    hand_3 = dict(CSI=1 / 4, POD=1 / 2, FAR=2 / 3, HSS=4 / 19, ETS=2 / 17)
    assert metric.counts() == {
        "hits": [[3, 1]],
        "misses": [[2, 1]],
        "false_alarms": [[2, 2]],
        "correct_negatives": [[3, 6]],
    }
    for name in scores.CATEGORICAL_SCORES:
        assert score_at(result, name, 0) == pytest.approx(hand_1[name])
        assert score_at(result, name, 1) == pytest.approx(hand_3[name])
    assert expected_scores(3, 2, 2, 3) == pytest.approx(hand_1)
    assert expected_scores(1, 1, 2, 6) == pytest.approx(hand_3)
    assert result["forecasts"] == 1
    assert result["lead_minutes"] == [5]
    assert result["thresholds"] == [1.0, 3.0]
    values = [result[name][0] for name in scores.CATEGORICAL_SCORES]
    assert all(type(v) is float for row in values for v in row)


def test_accumulation_over_two_forecasts_equals_the_pooled_table():
    # Second forecast at threshold 1: H = 1 (0,0), M = 1 (0,1),
    # F = 1 (0,2), C = 7. Pooled with the first: H = 4, M = 3, F = 3,
    # C = 10: CSI = 4/10, not the mean of 3/7 and 1/3.
    observed_2 = np.zeros((2, 5))
    observed_2[0, :2] = 2.0
    forecast_2 = np.zeros((2, 5))
    forecast_2[0, [0, 2]] = 2.0
    one_by_one = NowcastScores([1.0], [1, 3], [5])
    one_by_one.update(as_batch(FORECAST), as_batch(OBSERVED))
    one_by_one.update(as_batch(forecast_2), as_batch(observed_2))
    together = NowcastScores([1.0], [1, 3], [5])
    together.update(
        as_batch(FORECAST, forecast_2), as_batch(OBSERVED, observed_2)
    )
    result = one_by_one.result()
    assert result == together.result()
    assert result["forecasts"] == 2
    assert one_by_one.counts()["hits"] == [[4]]
    assert one_by_one.counts()["correct_negatives"] == [[10]]
    hand = expected_scores(4, 3, 3, 10)
    assert hand["CSI"] == pytest.approx(0.4)
    assert hand["HSS"] == pytest.approx(62 / 182)
    for name in scores.CATEGORICAL_SCORES:
        assert score_at(result, name, 0) == pytest.approx(hand[name])


def test_no_data_pixels_are_left_out():
    observed = OBSERVED.copy()
    forecast = FORECAST.copy()
    observed[0, 1] = np.nan  # was a hit at threshold 1
    forecast[1, 3] = np.nan  # was a false alarm at thresholds 1 and 3
    metric = NowcastScores([1.0, 3.0], [1], [5])
    metric.update(as_batch(forecast), as_batch(observed))
    # Threshold 1: H 3 -> 2, M = 2, F 2 -> 1, C = 3 (N = 8).
    # Threshold 3: (0,1) was a correct negative (2 and 2), (1,3) a false
    # alarm: H = 1, M = 1, F 2 -> 1, C 6 -> 5 (N = 8).
    assert metric.counts() == {
        "hits": [[2, 1]],
        "misses": [[2, 1]],
        "false_alarms": [[1, 1]],
        "correct_negatives": [[3, 5]],
    }
    result = metric.result()
    # CSI = 2/5, POD = 2/4, FAR = 1/3, HSS = 2(6-2)/((4)(5)+(3)(4)) = 1/4,
    # ETS: Hr = 4*3/8 = 1.5, (2-1.5)/(5-1.5) = 1/7.
    hand = dict(CSI=2 / 5, POD=1 / 2, FAR=1 / 3, HSS=1 / 4, ETS=1 / 7)
    assert expected_scores(2, 2, 1, 3) == pytest.approx(hand)
    for name in scores.CATEGORICAL_SCORES:
        assert score_at(result, name, 0) == pytest.approx(hand[name])
    # At scale 1 the fractions are the binary fields, so
    # FSS = 1 - (M+F)/((H+F)+(H+M)) = 2H/(2H+M+F) = 4/7 on the valid pixels.
    assert result["FSS"][0][0][0] == pytest.approx(4 / 7)


def test_scores_without_events_are_nan():
    metric = NowcastScores([1.0], [1, 3], [5, 10])
    fresh = metric.result()
    assert fresh["forecasts"] == 0
    assert all(math.isnan(v) for v in fresh["CSI"][0] + fresh["FSS"][0][0])
    zeros = np.zeros((1, 2, 4, 4))
    metric.update(zeros, zeros)
    result = metric.result()
    for name in ("CSI", "POD", "FAR", "ETS"):
        assert math.isnan(result[name][1][0])
    assert all(math.isnan(v) for v in result["FSS"][1][0])


def fractions(field, threshold, n):
    """Fractions of pixels >= threshold in an n x n window, as pysteps.

    pysteps filters with `scipy.ndimage.uniform_filter(size=n,
    mode="constant", cval=0)`: the field is padded with non-events, every
    window is divided by n * n, and the window of pixel i spans
    i - n // 2 ... i - n // 2 + n - 1 (for an even n, one more pixel
    before i than after it). NaN counts as a non-event.
    """
    events = np.where(np.isnan(field), 0.0, field >= threshold)
    before, after = n // 2, n - 1 - n // 2
    padded = np.pad(events, ((before, after), (before, after)))
    rows, cols = field.shape
    out = np.empty(field.shape)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = padded[i : i + n, j : j + n].sum() / (n * n)
    return out


def reference_fss(forecasts, observations, threshold, n):
    """FSS = 1 - sum((Pf-Po)^2) / (sum Pf^2 + sum Po^2), summed over all
    the pixels of all the fields."""
    pf = np.stack([fractions(f, threshold, n) for f in forecasts])
    po = np.stack([fractions(o, threshold, n) for o in observations])
    return 1.0 - np.sum((pf - po) ** 2) / (np.sum(pf**2) + np.sum(po**2))


def test_fss_matches_its_definition():
    rng = np.random.default_rng(0)
    observed = rng.gamma(0.6, 2.0, size=(2, 3, 12, 14))
    noise = rng.normal(0.0, 0.5, observed.shape)
    forecast = np.roll(observed, 2, axis=-1) + noise
    thresholds, scale_list = [0.5, 2.0], [1, 2, 3, 5]
    metric = NowcastScores(thresholds, scale_list, [10, 20, 30])
    metric.update(forecast[:1], observed[:1])
    metric.update(forecast[1:], observed[1:])
    result = metric.result()
    for lead in range(3):
        for i, threshold in enumerate(thresholds):
            for k, n in enumerate(scale_list):
                expected = reference_fss(
                    forecast[:, lead], observed[:, lead], threshold, n
                )
                assert result["FSS"][lead][i][k] == pytest.approx(expected)
    # A larger window forgives the displacement: FSS grows with the scale.
    fss = np.array(result["FSS"])
    assert np.all(np.diff(fss, axis=-1) > 0)


def test_fss_of_a_perfect_forecast_is_one():
    rng = np.random.default_rng(1)
    observed = rng.gamma(0.6, 2.0, size=(2, 2, 16, 16))
    metric = NowcastScores([0.5, 1.0, 4.0], [1, 4, 7], [5, 10])
    metric.update(observed, observed)
    assert np.array(metric.result()["FSS"]) == pytest.approx(1.0)


def test_fss_at_scale_one_by_hand():
    # At scale 1 the fractions are the binary fields:
    # sum (Pf-Po)^2 = M + F, sum Pf^2 = H + F, sum Po^2 = H + M, so
    # FSS = 2H/(2H+M+F): threshold 1 (H=3, M=2, F=2) 6/10; threshold 3
    # (H=1, M=1, F=2) 2/5.
    metric = NowcastScores([1.0, 3.0], [1], [5])
    metric.update(as_batch(FORECAST), as_batch(OBSERVED))
    fss = np.array(metric.result()["FSS"][0])[:, 0]
    assert fss == pytest.approx([0.6, 0.4])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"thresholds": []}, "at least one finite threshold"),
        ({"thresholds": [1.0, 1.0]}, "strictly increasing"),
        ({"thresholds": [5.0, 1.0]}, "strictly increasing"),
        ({"scales": [0]}, "positive ints"),
        ({"scales": [1.5]}, "positive ints"),
        ({"lead_minutes": []}, "at least one lead time"),
    ],
)
def test_arguments_are_checked(kwargs, message):
    arguments = {"thresholds": [1.0], "scales": [1], "lead_minutes": [5]}
    with pytest.raises(ValueError, match=message):
        NowcastScores(**{**arguments, **kwargs})


def test_update_checks_shapes():
    metric = NowcastScores([1.0], [1], [5, 10])
    with pytest.raises(ValueError, match="same shape"):
        metric.update(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 5)))
    with pytest.raises(ValueError, match="same shape"):
        metric.update(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="Expected 2 lead times"):
        metric.update(np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4)))


METHODS = ("PredRNN", "persistence", "extrapolation")
LEADS = [5, 10, 15]


@pytest.fixture(scope="module")
def results_by_method():
    rng = np.random.default_rng(2)
    observed = rng.gamma(0.6, 2.0, size=(2, 3, 16, 16))
    results = {}
    for shift, method in enumerate(METHODS):
        metric = NowcastScores([1.0, 3.0], [1, 3, 5], LEADS)
        metric.update(np.roll(observed, shift, axis=-1), observed)
        results[method] = metric.result()
    return results


def test_table_shows_every_method_and_lead(results_by_method):
    table = tables.format_scores_table(results_by_method, threshold_index=1)
    lines = table.splitlines()
    assert ">= 3 mm/h" in lines[0] and "scale 3 px" in lines[0]
    assert max(len(line) for line in lines) <= tables.TABLE_WIDTH
    for name in (*METHODS, *scores.CATEGORICAL_SCORES, "FSS 3 px"):
        assert name in table
    lead_rows = [line.split("|")[0].strip() for line in lines]
    for lead in LEADS:
        assert str(lead) in lead_rows
    # The perfect forecast's CSI stands in its column.
    csi_row = next(line for line in lines if line.startswith("    5 |"))
    assert csi_row.split("|")[1].split()[0] == "1.000"
    all_tables = tables.format_all_tables(results_by_method, unit="dBZ")
    assert ">= 1 dBZ" in all_tables and ">= 3 dBZ" in all_tables


def test_table_rejects_methods_with_other_lead_times(results_by_method):
    other = dict(results_by_method["PredRNN"], lead_minutes=[5, 10, 20])
    with pytest.raises(ValueError, match="share lead_minutes"):
        tables.format_scores_table(
            {"a": results_by_method["PredRNN"], "b": other}
        )


def test_csv_has_one_row_per_score(results_by_method):
    text = tables.scores_csv(results_by_method)
    rows = list(csv.DictReader(io.StringIO(text)))
    # 3 methods x 3 leads x 2 thresholds x (5 categorical + 3 FSS scales).
    assert len(rows) == 3 * 3 * 2 * (5 + 3)
    header = "method,lead_minutes,threshold,score,scale,value"
    assert list(rows[0]) == header.split(",")
    columns = ("method", "lead_minutes", "threshold", "score", "scale")
    by_key = {tuple(r[c] for c in columns): r for r in rows}
    assert len(by_key) == len(rows)
    row = by_key["persistence", "10", "3.0", "CSI", ""]
    assert row["scale"] == ""
    assert float(row["value"]) == results_by_method["persistence"]["CSI"][1][1]
    fss = by_key["extrapolation", "15", "1.0", "FSS", "5"]
    expected = results_by_method["extrapolation"]["FSS"][2][0][2]
    assert float(fss["value"]) == expected


def test_csi_plot_is_an_rgb_picture(results_by_method):
    image = score_plots.csi_plot(
        results_by_method, threshold_index=0, unit="mm/h"
    )
    assert image.dtype == np.uint8
    assert image.shape == (320, 480, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10


def test_fss_plot_draws_the_chosen_window(results_by_method):
    small = score_plots.score_plot(results_by_method, "FSS", 0, 0)
    large = score_plots.score_plot(results_by_method, "FSS", 0, 2)
    csi = score_plots.score_plot(results_by_method, "CSI", 0)
    assert small.shape == large.shape == csi.shape == (320, 480, 3)
    assert np.abs(small.astype(int) - large.astype(int)).sum() > 0
    assert np.array_equal(
        csi, score_plots.csi_plot(results_by_method, 0, unit="mm/h")
    )
    with pytest.raises(ValueError, match="Received: 'BIAS'"):
        score_plots.score_plot(results_by_method, "BIAS", 0)


def test_rain_gif_frames_have_a_panel_per_method():
    """Observed beside five forecasts: six panels, each with its colour bar
    once the forecast starts (colours repeat past the palette)."""
    from predrnn_keras.nowcasting import pictures

    rng = np.random.default_rng(0)
    context = rng.gamma(0.6, 2.0, size=(2, 16, 16))
    truth = rng.gamma(0.6, 2.0, size=(3, 16, 16))
    names = ["PredRNN", "extrapolation", "sprog", "anvil", "linda"]
    forecasts = {name: truth * (k + 1) for k, name in enumerate(names)}
    frames = pictures.nowcast_frames(
        context, truth, forecasts, "mm/h", 0.1, 5.0, min_frame_size=32
    )
    assert frames.shape[0] == 5 and frames.dtype == np.uint8
    one = pictures.nowcast_frames(
        context, truth, {"PredRNN": truth}, "mm/h", 0.1, 5.0,
        min_frame_size=32,
    )
    # Two panels, then six of the same width: four panels wider.
    extra = frames.shape[2] - one.shape[2]
    assert extra % 4 == 0 and frames.shape[2] > 2.5 * one.shape[2]
