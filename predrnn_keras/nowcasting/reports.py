"""The reports of nowcasting scores: the CSV, the CSI and FSS plots, the
tables.

Written by `evaluate.py` for every method scored on a radar test split
(`predrnn_keras.data.kinds.radar_evaluation`) and by `predict.py --score`
for the model's forecasts of a radar folder.
"""

import imageio.v3 as iio

from predrnn_keras.nowcasting.score_plots import csi_plot
from predrnn_keras.nowcasting.score_plots import score_plot
from predrnn_keras.nowcasting.tables import format_all_tables
from predrnn_keras.nowcasting.tables import scores_csv
from predrnn_keras.utils import files

MODEL_NAME = "PredRNN"


def write_nowcast_reports(out_dir, nowcast: dict) -> dict:
    """nowcast_scores.csv, a CSI plot per threshold (csi_1.png) and an FSS
    plot per threshold and window size (fss_1_5px.png); returns their paths.

    (The scores are in metrics.json too, under "nowcast".)
    """
    methods = nowcast["methods"]
    paths = {"csv": out_dir / "nowcast_scores.csv", "plots": []}
    files.write_text(paths["csv"], scores_csv(methods))
    first = next(iter(methods.values()))
    for i, threshold in enumerate(first["thresholds"]):
        path = out_dir / f"csi_{threshold:g}.png"
        iio.imwrite(
            path, csi_plot(methods, i, nowcast["unit"])
        )
        paths["plots"].append(path)
        for j, scale in enumerate(first["scales"]):
            path = out_dir / f"fss_{threshold:g}_{scale}px.png"
            iio.imwrite(
                path, score_plot(methods, "FSS", i, j, nowcast["unit"])
            )
            paths["plots"].append(path)
    return paths


def format_nowcast(nowcast: dict) -> str:
    """Every threshold's score table, for the console."""
    return format_all_tables(
        nowcast["methods"], nowcast["unit"]
    )
