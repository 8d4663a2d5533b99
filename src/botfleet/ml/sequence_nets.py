"""The two PyTorch networks behind `ml.sequence`: small on purpose (CPU, hourly bars, a few
thousand samples per market-year), each reading [batch, seq_len, features] and giving one
logit (or scaled return) per window from its newest step. Imports torch: only loaded when a
sequence learner is built."""

from __future__ import annotations

import torch
from torch import nn


class LstmNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1])).squeeze(-1)


class TransformerNet(nn.Module):
    """Encoder over the window with a learned position embedding; the newest step's output
    is read (every step of the window is at or before the bar, so no mask is needed)."""

    def __init__(self, n_features: int, seq_len: int, d_model: int, heads: int, layers: int,
                 dropout: float):
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        self.position = nn.Parameter(torch.zeros(1, seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model,
                                           dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(x) + self.position)
        return self.head(self.norm(h[:, -1])).squeeze(-1)


def build_net(algorithm: str, params: dict, n_features: int) -> nn.Module:
    if algorithm == "lstm":
        return LstmNet(n_features, int(params["hidden"]), int(params["layers"]),
                       float(params["dropout"]))
    return TransformerNet(n_features, int(params["seq_len"]), int(params["d_model"]),
                          int(params["heads"]), int(params["layers"]), float(params["dropout"]))
