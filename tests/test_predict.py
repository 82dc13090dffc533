"""predict.py: forecasts of the user's own files, in every input kind."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from predrnn_keras.cli.predict import main as predict_main
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.decoding import convert_channels
from predrnn_keras.data.decoding import resize_frames
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.models import PredRNNV2
from predrnn_keras.predict import PredictError
from predrnn_keras.predict import forecast
from predrnn_keras.predict import load_model
from tests.test_data_frames import write_mp4
from tests.workflow_helpers import randomize
from tests.workflow_helpers import untrained_run

# The tiny recipe: 16x16 grey frames, 3 context frames, trained 3 -> 2.
CONTEXT, HORIZON, SIZE = 3, 2, 16


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an (untrained, randomised) best.keras."""
    return untrained_run(tmp_path_factory.mktemp("predict") / "run")


@pytest.fixture(scope="module")
def model(run_dir):
    return load_model(run_dir)[0]


def frames_u8(count, seed, size=SIZE, channels=None):
    rng = np.random.default_rng(seed)
    shape = (count, size, size) + ((channels,) if channels else ())
    return rng.integers(0, 256, shape).astype(np.uint8)


def expected(model, context_u8, horizon=HORIZON):
    """The model's own rollout of uint8 context frames (T, H, W[, C])."""
    context = context_u8.astype(np.float32) / 255.0
    if context.ndim == 3:
        context = context[..., None]
    pred = model.predict_future(context[None], horizon, batch_size=1)
    return np.clip(pred[0], 0.0, 1.0)


def read_forecast(out, name):
    return np.load(out / name / "forecast.npy")


def test_every_input_kind(run_dir, model, tmp_path):
    source = tmp_path / "inputs"
    source.mkdir()
    many = np.stack([frames_u8(6, 0), frames_u8(6, 1)])  # (N, T, H, W)
    np.save(source / "many.npy", many)
    one = frames_u8(4, 2)[..., None].astype(np.float32) / 255.0
    np.savez(source / "one.npz", clip=one)  # (T, H, W, 1) floats in [0, 1]
    gif = frames_u8(5, 3)
    iio.imwrite(
        source / "clip.gif",
        np.repeat(gif[..., None], 3, axis=-1),  # grey stored as RGB
        extension=".gif",
        duration=100,
        loop=0,
    )
    video = frames_u8(5, 4)
    write_mp4(source / "video.mp4", np.repeat(video[..., None], 3, axis=-1))
    (source / "frames").mkdir()
    pngs = frames_u8(3, 5)
    for t, image in enumerate(pngs):
        iio.imwrite(source / "frames" / f"f{t}.png", image)
    (source / "notes.txt").write_text("ignored")

    out = tmp_path / "out"
    summary = forecast(run_dir, source, out_dir=out, verbose=0)
    names = [entry["name"] for entry in summary["sequences"]]
    assert names == [
        "clip", "frames", "many_0001", "many_0002", "one", "video"
    ]
    assert summary["horizon"] == HORIZON  # what the run trained for
    assert summary["context_length"] == CONTEXT
    cases = {
        "many_0001": many[0][-CONTEXT:],
        "many_0002": many[1][-CONTEXT:],
        "clip": gif[-CONTEXT:],
        "video": video[-CONTEXT:],
        "frames": pngs,
    }
    for name, context in cases.items():
        np.testing.assert_allclose(
            read_forecast(out, name) / 255.0,
            expected(model, context),
            atol=1e-5,
            err_msg=name,
        )
    # Floats in [0, 1] stay in their units; the last 3 of 4 frames are used.
    pred = model.predict_future(one[None, -CONTEXT:], HORIZON, batch_size=1)
    np.testing.assert_allclose(
        read_forecast(out, "one"), np.clip(pred[0], 0, 1), atol=1e-5
    )
    entries = {e["name"]: e for e in summary["sequences"]}
    assert entries["many_0001"]["notes"] == [
        "used its last 3 of 6 frames as the context"
    ]
    assert entries["frames"]["notes"] == []
    assert entries["many_0001"]["predicted_frames"] == [4, 5]
    # PNGs, a float32 array and a GIF of context then forecast (two panels).
    assert read_forecast(out, "clip").dtype == np.float32
    pngs_written = sorted(p.name for p in (out / "clip").glob("*.png"))
    assert pngs_written == ["forecast_01.png", "forecast_02.png"]
    png = iio.imread(out / "clip" / "forecast_02.png")
    np.testing.assert_array_equal(
        png, np.rint(read_forecast(out, "clip")[1, ..., 0]).astype(np.uint8)
    )
    gif_frames = iio.imread(out / "clip" / "forecast.gif", index=None)
    assert len(gif_frames) == CONTEXT + HORIZON
    saved = json.loads((out / "summary.json").read_text())
    assert saved["num_sequences"] == 6 and "scores" not in saved


def test_any_horizon_and_the_score(run_dir, model, tmp_path):
    clip = frames_u8(CONTEXT + 4, 6)
    np.save(tmp_path / "clip.npy", clip)
    out = tmp_path / "out"
    summary = forecast(
        run_dir, tmp_path / "clip.npy", out_dir=out, horizon=4, score=True,
        verbose=0,
    )
    pred = expected(model, clip[:CONTEXT], horizon=4)
    np.testing.assert_allclose(read_forecast(out, "clip") / 255, pred, atol=1e-5)
    metrics = FrameMetrics()
    metrics.update(clip[None, CONTEXT:, ..., None] / 255.0, pred[None])
    reference = metrics.result()
    for name, value in reference["mean"].items():
        assert summary["scores"]["mean"][name] == pytest.approx(value, rel=1e-4)
    assert (out / "metrics.json").is_file()
    assert (out / "metrics_per_frame.csv").is_file()
    # Three panels beside the truth.
    gif = iio.imread(out / "clip" / "forecast.gif", index=None)
    two_panels = iio.imread(
        _plain_gif(run_dir, tmp_path, clip), index=None
    )
    assert gif.shape[2] > two_panels.shape[2]
    # Scoring needs the context and the whole horizon.
    with pytest.raises(DataError, match=r"clip.npy: .*--score needs 3 .* 5"):
        forecast(
            run_dir, tmp_path / "clip.npy", out_dir=tmp_path / "o2",
            horizon=5, score=True, verbose=0,
        )


def _plain_gif(run_dir, tmp_path, clip):
    out = tmp_path / "plain"
    forecast(run_dir, tmp_path / "clip.npy", out_dir=out, verbose=0)
    return out / "clip" / "forecast.gif"


def test_conversions(run_dir, model, tmp_path):
    # RGB 32x32 into the grey 16x16 model: asked for, converted.
    rgb = frames_u8(CONTEXT, 7, size=32, channels=3)
    np.save(tmp_path / "rgb.npy", rgb)
    with pytest.raises(DataError, match=r"rgb.npy: frames of 3 channel.*"
                       r"expects 1.*--convert-channels"):
        forecast(run_dir, tmp_path / "rgb.npy", out_dir=tmp_path / "a",
                 verbose=0)
    with pytest.raises(DataError, match=r"rgb.npy: frames of 32x32.*expects "
                       r"16x16, shape \(16, 16, 1\).*--fit resize"):
        forecast(run_dir, tmp_path / "rgb.npy", out_dir=tmp_path / "b",
                 convert_channels=True, verbose=0)
    summary = forecast(
        run_dir, tmp_path / "rgb.npy", out_dir=tmp_path / "c",
        convert_channels=True, fit="resize", verbose=0,
    )
    grey = resize_frames(convert_channels(rgb, 1), (SIZE, SIZE))
    np.testing.assert_allclose(
        read_forecast(tmp_path / "c", "rgb") / 255,
        expected(model, grey),
        atol=1e-5,
    )
    assert summary["sequences"][0]["notes"] == [
        "converted RGB to grey", "resized 32x32 to 16x16"
    ]
    # A centre crop of wide frames: exactly the middle 16x16.
    wide = frames_u8(CONTEXT, 8, size=16)
    wide = np.concatenate([wide[:, :, :8] * 0, wide, wide[:, :, :8] * 0], 2)
    np.save(tmp_path / "wide.npy", wide)
    forecast(run_dir, tmp_path / "wide.npy", out_dir=tmp_path / "d",
             fit="crop", verbose=0)
    np.testing.assert_allclose(
        read_forecast(tmp_path / "d", "wide") / 255,
        expected(model, wide[:, :, 8:24]),
        atol=1e-5,
    )
    # Grey into an RGB model.
    rgb_model = PredRNNV2(num_hidden=[4], patch_size=4, input_length=CONTEXT)
    rgb_model.build((None, CONTEXT + HORIZON, SIZE, SIZE, 3))
    randomize(rgb_model, seed=1)
    grey_clip = frames_u8(CONTEXT, 9)
    np.save(tmp_path / "grey.npy", grey_clip)
    forecast(rgb_model, tmp_path / "grey.npy", out_dir=tmp_path / "e",
             convert_channels=True, verbose=0)
    np.testing.assert_allclose(
        read_forecast(tmp_path / "e", "grey") / 255,
        expected(rgb_model, np.repeat(grey_clip[..., None], 3, -1), CONTEXT),
        atol=1e-5,
    )
    # Floats outside [0, 1] need their range; the forecast returns in it.
    signed = frames_u8(CONTEXT, 10).astype(np.float32) / 127.5 - 1.0
    np.save(tmp_path / "signed.npy", signed)
    with pytest.raises(DataError, match=r"signed.npy: float values from -1 "
                       r"to 1; expected \[0, 1\].*--value-range"):
        forecast(run_dir, tmp_path / "signed.npy", out_dir=tmp_path / "f",
                 verbose=0)
    forecast(run_dir, tmp_path / "signed.npy", out_dir=tmp_path / "g",
             value_range=(-1.0, 1.0), verbose=0)
    unit = (signed + 1.0) / 2.0
    pred = model.predict_future(unit[None, ..., None], HORIZON, batch_size=1)
    np.testing.assert_allclose(
        read_forecast(tmp_path / "g", "signed"),
        np.clip(pred[0], 0, 1) * 2.0 - 1.0,
        atol=1e-5,
    )


def test_bad_inputs_are_one_line_errors(run_dir, tmp_path):
    np.save(tmp_path / "short.npy", frames_u8(CONTEXT - 1, 11))
    with pytest.raises(DataError, match=r"short.npy: short: 2 frames; the "
                       r"model needs a context of 3 frames"):
        forecast(run_dir, tmp_path / "short.npy", out_dir=tmp_path / "a",
                 verbose=0)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match=r"broken.mp4: unreadable video"):
        forecast(run_dir, tmp_path / "broken.mp4", out_dir=tmp_path / "b",
                 verbose=0)
    (tmp_path / "broken.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"broken.npy: not an .npy array"):
        forecast(run_dir, tmp_path / "broken.npy", out_dir=tmp_path / "c",
                 verbose=0)
    np.savez(tmp_path / "two.npz", a=np.zeros((4, 16, 16)), b=np.zeros(3))
    with pytest.raises(DataError, match=r"two.npz: holds 2 arrays .*--key"):
        forecast(run_dir, tmp_path / "two.npz", out_dir=tmp_path / "d",
                 verbose=0)
    np.save(tmp_path / "flat.npy", np.zeros((16, 16)))
    with pytest.raises(DataError, match=r"flat.npy: array of shape"):
        forecast(run_dir, tmp_path / "flat.npy", out_dir=tmp_path / "e",
                 verbose=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: holds no video"):
        forecast(run_dir, tmp_path / "empty", out_dir=tmp_path / "f",
                 verbose=0)
    with pytest.raises(DataError, match=r"missing.gif: no such file"):
        forecast(run_dir, tmp_path / "missing.gif", out_dir=tmp_path / "g",
                 verbose=0)
    with pytest.raises(ValueError, match=r"no_such_model"):
        forecast("no_such_model", tmp_path / "short.npy", verbose=0)


def test_outputs_are_never_overwritten_unasked(run_dir, tmp_path):
    np.save(tmp_path / "clip.npy", frames_u8(CONTEXT, 12))
    out = tmp_path / "out"
    forecast(run_dir, tmp_path / "clip.npy", out_dir=out, verbose=0)
    first = read_forecast(out, "clip")
    with pytest.raises(PredictError, match=r"out exists and is not empty; "
                       r"pass --overwrite"):
        forecast(run_dir, tmp_path / "clip.npy", out_dir=out, verbose=0)
    np.testing.assert_array_equal(read_forecast(out, "clip"), first)
    # An input refused at once leaves the earlier forecast as it was, and
    # creates no folder.
    np.save(tmp_path / "short.npy", frames_u8(CONTEXT - 1, 11))
    with pytest.raises(DataError, match="needs a context"):
        forecast(run_dir, tmp_path / "short.npy", out_dir=out,
                 overwrite=True, verbose=0)
    np.testing.assert_array_equal(read_forecast(out, "clip"), first)
    with pytest.raises(DataError, match="needs a context"):
        forecast(run_dir, tmp_path / "short.npy", out_dir=tmp_path / "new",
                 verbose=0)
    assert not (tmp_path / "new").exists()
    forecast(run_dir, tmp_path / "clip.npy", out_dir=out, overwrite=True,
             verbose=0)
    # --overwrite never empties a folder that is not a forecast's.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(PredictError, match=r"not a forecast"):
        forecast(run_dir, tmp_path / "clip.npy", out_dir=other,
                 overwrite=True, verbose=0)
    assert (other / "thesis.tex").read_text() == "precious"


def test_command_line(run_dir, tmp_path, capsys):
    np.save(tmp_path / "clip.npy", frames_u8(CONTEXT + 1, 13))
    out = tmp_path / "out"
    status = predict_main(
        [str(tmp_path / "clip.npy"), "--model", str(run_dir / "best.keras"),
         "--out", str(out), "--horizon", "3"]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "clip: used its last 3 of 4 frames as the context" in printed
    assert read_forecast(out, "clip").shape == (3, SIZE, SIZE, 1)
    status = predict_main(
        [str(tmp_path / "clip.npy"), "--model", str(run_dir), "--out",
         str(out)]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "--overwrite" in err


def test_long_videos_are_read_a_chunk_at_a_time(tmp_path):
    from predrnn_keras.predict.inputs import Source
    from predrnn_keras.predict.inputs import read_sequences

    frames = np.repeat(frames_u8(150, 14)[..., None], 3, axis=-1)
    write_mp4(tmp_path / "long.mp4", frames)
    source = Source(tmp_path / "long.mp4", "video")
    for keep, expected_frames in (
        (("last", 3), frames[-3:]),
        (("first", 70), frames[:70]),
        (None, frames),
    ):
        (sequence,) = read_sequences(source, keep=keep)
        assert sequence.length == 150
        np.testing.assert_array_equal(sequence.frames, expected_frames)
