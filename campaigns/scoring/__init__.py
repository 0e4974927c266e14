"""The health score's arithmetic, pure: no models, no database (docs/health.md).

- ``measures``: the registry of measure kinds. Each kind turns a customer's facts (aggregates
  read by one SQL statement per chunk of customers) into points from 0 to 100 and a reason.
- ``combine``: the weighted mean of the measures that have data, the band, an override.
- ``roc``: the area under the ROC curve, for the backtest.
"""
