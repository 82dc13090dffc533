"""Precipitation nowcasting: radar values, skill scores and baselines.

- `transform`: rain rate (mm/h) or reflectivity (dBZ) to the model's [0, 1]
  values and back (`RadarTransform`).
- `scores`: the forecasters' skill scores per lead time and threshold (CSI,
  POD, FAR, HSS, ETS and the fractions skill score), through
  `pysteps.verification`.
- `tables`, `score_plots`, `reports`: the scores as console tables, CSV,
  CSI plots and the report files of `evaluate.py` and `predict.py`.
- `baselines`: persistence and optical-flow extrapolation nowcasts, through
  `pysteps.motion` and `pysteps.extrapolation` (the forecast methods of
  `predrnn_keras.forecasters` call them).
- `pictures`: rain fields in pysteps' colours, and the nowcast GIF frames.

Everything but `transform`'s arithmetic needs the optional radar extra
(`pip install -r requirements-radar.txt`, or `pip install .[radar]`);
`extra.require` names it when it is missing.
"""
