"""Machine learning on candles: features, labels, purged splits, training, the model registry.

Modules, in the order data flows: `features` and `labels` (no look-ahead), `dataset` (pooled
samples), `splits` (purged, embargoed), `train` and `evaluate` (against naive baselines),
`registry` and `artefacts` (versions, promotion, rollback), `predict` (the promoted version in a
cycle), `pit` (walk-forward predictions for backtests). docs/ml.md is the guide.
"""
