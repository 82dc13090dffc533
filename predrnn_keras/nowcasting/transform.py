"""Radar values to the model's [0, 1] and back: the dB transform, scaled.

Rain rates span four orders of magnitude and are zero over most of a radar
image, so models are trained on their logarithm, as in pysteps: a rain rate
R >= `threshold` (mm/h) becomes 10 log10 R (dBR); a smaller one, "no rain",
becomes the zero value 10 log10(threshold) - 5. Reflectivity (dBZ) is a
logarithm already and is thresholded the same way. The dB values are then
mapped linearly onto [0, 1], from the zero value to 10 log10(`max_value`)
(or `max_value` dBZ), and clipped there.

The inverse is exact for every value from `threshold` to `max_value`:
`inverse(forward(R)) == R` up to float32 rounding; values below the
threshold come back as 0 mm/h (no rain), or as the zero value in dBZ.
No-data pixels (NaN) become 0, no rain, in the model's values: the model
sees "no echo" where the radar saw nothing, and the scores leave those
pixels out (see `predrnn_keras.data.radar`).
"""

import dataclasses

import numpy as np

UNITS = ("mm/h", "dBZ")
# The zero value lies this many dB below the threshold, as in pysteps.
ZERO_MARGIN_DB = 5.0


@dataclasses.dataclass(frozen=True)
class RadarTransform:
    """The dB transform of radar values, scaled to [0, 1].

    Args:
        unit: "mm/h" (rain rate, transformed to dBR) or "dBZ".
        threshold: the smallest value that counts as rain, in `unit`.
        max_value: the value mapped to 1, in `unit`; larger ones are clipped.
    """

    unit: str = "mm/h"
    threshold: float = 0.1
    max_value: float = 100.0

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(
                f"Expected unit to be one of {', '.join(UNITS)}. "
                f"Received: unit={self.unit!r}"
            )
        if self.unit == "mm/h" and not self.threshold > 0:
            raise ValueError(
                "Expected threshold > 0 mm/h (its logarithm is taken). "
                f"Received: threshold={self.threshold}"
            )
        if not self.max_value > self.threshold:
            raise ValueError(
                "Expected max_value > threshold. Received: "
                f"threshold={self.threshold}, max_value={self.max_value}"
            )

    def _db(self, value: float) -> float:
        return 10.0 * np.log10(value) if self.unit == "mm/h" else value

    @property
    def threshold_db(self) -> float:
        """The threshold in dB (dBR or dBZ)."""
        return float(self._db(self.threshold))

    @property
    def zero_db(self) -> float:
        """The dB value of "no rain", which maps to 0."""
        return self.threshold_db - ZERO_MARGIN_DB

    @property
    def max_db(self) -> float:
        """The dB value that maps to 1."""
        return float(self._db(self.max_value))

    def to_db(self, values: np.ndarray) -> np.ndarray:
        """Values in `unit` to dB; below the threshold, the zero value.

        Rain rates go through pysteps' `dB_transform`; NaN stays NaN.
        """
        values = np.asarray(values, np.float64)
        if self.unit == "mm/h":
            from predrnn_keras.nowcasting.extra import require

            transformation = require("pysteps.utils.transformation")
            db, _ = transformation.dB_transform(
                values, threshold=self.threshold, zerovalue=self.zero_db
            )
            return db
        return np.where(values < self.threshold, self.zero_db, values)

    def from_db(self, db: np.ndarray) -> np.ndarray:
        """dB back to `unit`; below the threshold, 0 mm/h or the zero value."""
        db = np.asarray(db, np.float64)
        if self.unit == "mm/h":
            from predrnn_keras.nowcasting.extra import require

            transformation = require("pysteps.utils.transformation")
            values, _ = transformation.dB_transform(
                db,
                {"transform": "dB"},
                threshold=self.threshold_db,
                zerovalue=0.0,
                inverse=True,
            )
            return values
        return np.where(db < self.threshold, self.zero_db, db)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Values in `unit` (NaN for no data) to float32 in [0, 1]."""
        db = self.to_db(values)
        scaled = (db - self.zero_db) / (self.max_db - self.zero_db)
        return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0).astype(
            np.float32
        )

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """The model's [0, 1] values back to `unit` (float32)."""
        scaled = np.clip(np.asarray(scaled, np.float64), 0.0, 1.0)
        db = self.zero_db + scaled * (self.max_db - self.zero_db)
        # forward(threshold) is rounded to float32 and may come back a hair
        # below the threshold: from there up, it is rain.
        rain = scaled >= self.forward(np.array([self.threshold]))[0]
        db = np.where(rain, np.maximum(db, self.threshold_db), db)
        return self.from_db(db).astype(np.float32)

    def to_model_units(self, values) -> list[float]:
        """Thresholds in `unit` as the model's [0, 1] values."""
        return [float(v) for v in self.forward(np.asarray(values, float))]
