"""The market the execution tests share (brokers, executor, reconciliation): a year of real
BTC/USDT hourly candles on the exchange simulator, its clock and fill model. The `candles` and
`venue` fixtures built from these live in conftest.py."""

from __future__ import annotations

from decimal import Decimal

from botfleet.sim.fillmodel import FillModel

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SYM = "BTC/USDT"
D = Decimal
FILLS = FillModel(slippage="fixed", bps=5, maker_fee=D("0.001"), taker_fee=D("0.001"))
