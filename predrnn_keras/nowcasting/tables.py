"""The nowcasting scores of several methods as console tables and CSV.

Each takes `results_by_method`, method name -> `NowcastScores.result()`,
all on the same lead times, thresholds and scales. The console tables show
one threshold each, the methods of a score side by side; the CSV holds
every score in long format, one value per row.
"""

import csv
import io
import math

from predrnn_keras.nowcasting.scores import CATEGORICAL_SCORES
from predrnn_keras.nowcasting.scores import check_same_axes

TABLE_WIDTH = 110  # characters; score blocks wrap beyond it
_SEPARATOR = " | "


def format_scores_table(
    results_by_method: dict,
    threshold_index: int = 0,
    unit: str = "mm/h",
    width: int = TABLE_WIDTH,
) -> str:
    """Plain text table of every method's scores at one threshold.

    One row per lead time (minutes). Each score (CSI, POD, FAR, HSS, ETS,
    then the FSS at the middle scale, `scales[len(scales) // 2]`) is a
    block of columns, one per method, so the methods of a score stand side
    by side; blocks that do not fit in `width` characters wrap to a new
    band below, which repeats the lead column.

    Args:
        results_by_method: method name -> `NowcastScores.result()`; all must
            share lead times, thresholds and scales.
        threshold_index: which threshold.
        unit: unit of the thresholds, for the title.
        width: the widest line, in characters (a band holds at least one
            score block).

    Returns:
        The table, lines joined by newlines, with a trailing newline.
    """
    first = check_same_axes(results_by_method)
    thresholds = first["thresholds"]
    if not -len(thresholds) <= threshold_index < len(thresholds):
        raise ValueError(
            f"Expected threshold_index in [0, {len(thresholds)}). "
            f"Received: threshold_index={threshold_index}"
        )
    scale = first["scales"][len(first["scales"]) // 2]
    methods = list(results_by_method)
    widths = [max(len(m), 6) for m in methods]
    leads = [f"{m:g}" for m in first["lead_minutes"]]
    lead_width = max(5, *(len(s) for s in leads))
    block_width = sum(widths) + len(widths) - 1
    blocks = _score_blocks(results_by_method, threshold_index)
    lines = [
        f"Scores at >= {thresholds[threshold_index]:g} {unit} "
        f"(FSS at scale {scale} px), {first['forecasts']} forecasts"
    ]
    for band in _bands(blocks, width, lead_width, block_width):
        lines.append("")
        lines.extend(
            _band_lines(band, leads, lead_width, methods, widths, block_width)
        )
    return "\n".join(lines) + "\n"


def _score_blocks(results_by_method: dict, threshold_index: int) -> list:
    """`(title, [[value per lead] per method])` of each categorical score
    and of the FSS at the middle scale, at one threshold."""
    first = next(iter(results_by_method.values()))
    lead_count = len(first["lead_minutes"])
    scale_index = len(first["scales"]) // 2
    blocks = [
        (
            name,
            [
                [r[name][lead][threshold_index] for lead in range(lead_count)]
                for r in results_by_method.values()
            ],
        )
        for name in CATEGORICAL_SCORES
    ]
    blocks.append(
        (
            f"FSS {first['scales'][scale_index]} px",
            [
                [
                    r["FSS"][lead][threshold_index][scale_index]
                    for lead in range(lead_count)
                ]
                for r in results_by_method.values()
            ],
        )
    )
    return blocks


def _bands(
    blocks: list, width: int, lead_width: int, block_width: int
) -> list:
    """`blocks` cut into bands whose lines, lead column included, fit in
    `width` characters; each band holds at least one block."""
    bands, band = [], []
    for block in blocks:
        used = lead_width + len(band) * (len(_SEPARATOR) + block_width)
        if band and used + len(_SEPARATOR) + block_width > width:
            bands.append(band)
            band = []
        band.append(block)
    bands.append(band)
    return bands


def _band_lines(
    band: list,
    leads: list[str],
    lead_width: int,
    methods: list[str],
    widths: list[int],
    block_width: int,
) -> list[str]:
    """The two header lines and the row per lead time of one band."""
    lines = [
        "lead ".rjust(lead_width)
        + "".join(
            _SEPARATOR + name.center(block_width) for name, _ in band
        ).rstrip()
    ]
    method_header = " ".join(m.rjust(w) for m, w in zip(methods, widths))
    lines.append(
        "(min)".rjust(lead_width) + (_SEPARATOR + method_header) * len(band)
    )
    for i, lead in enumerate(leads):
        lines.append(
            lead.rjust(lead_width)
            + "".join(
                _SEPARATOR
                + " ".join(
                    _format_value(values[i]).rjust(w)
                    for values, w in zip(per_method, widths)
                )
                for _, per_method in band
            )
        )
    return lines


def _format_value(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.3f}"


def format_all_tables(results_by_method: dict, unit: str = "mm/h") -> str:
    """`format_scores_table` for every threshold, one after another."""
    first = check_same_axes(results_by_method)
    return "\n".join(
        format_scores_table(results_by_method, i, unit)
        for i in range(len(first["thresholds"]))
    )


def scores_csv(results_by_method: dict) -> str:
    """Every score of every method as long-format CSV.

    Columns `method,lead_minutes,threshold,score,scale,value`: one row per
    method, lead time, threshold and score, and for the FSS per scale too
    (`scale` is empty for the categorical scores). NaN is written "nan".
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["method", "lead_minutes", "threshold", "score", "scale", "value"]
    )
    for method, result in results_by_method.items():
        for i, lead in enumerate(result["lead_minutes"]):
            for j, threshold in enumerate(result["thresholds"]):
                for name in CATEGORICAL_SCORES:
                    writer.writerow(
                        [method, lead, threshold, name, "", result[name][i][j]]
                    )
                for k, scale in enumerate(result["scales"]):
                    writer.writerow(
                        [
                            method,
                            lead,
                            threshold,
                            "FSS",
                            scale,
                            result["FSS"][i][j][k],
                        ]
                    )
    return buffer.getvalue()
