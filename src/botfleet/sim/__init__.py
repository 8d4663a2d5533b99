"""Backtesting and research: the fill model, the numba kernel that trades bar by bar over a
portfolio with one cash balance, metrics, optimisation, walk-forward, bias checks and Monte Carlo.
"""
