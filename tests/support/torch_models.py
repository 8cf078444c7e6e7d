"""Small torch models for the PyTorch flavor's tests (imported once torch is known to be there)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """4 features -> 2 scores."""

    def __init__(self, features: int = 4, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TwoHeads(nn.Module):
    """Two inputs (floats and integer counts) and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.dense(x) + counts.float().sum(dim=1, keepdim=True)
        return scores, scores.argmax(dim=1)


class Slow(nn.Module):
    """Takes a few milliseconds a call whatever the batch size, so concurrent requests queue."""

    def __init__(self, width: int = 128, rounds: int = 16) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width, width) / width**0.5)
        self.rounds = rounds
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = torch.zeros(self.width, self.width) + x.sum()
        for _ in range(self.rounds):
            state = torch.tanh(state @ self.weight)
        return x * 2.0 + state.mean() * 0.0


class ReadsFiles(nn.Module):
    """Reads a file the model names: what a hostile TorchScript archive would do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leaked = torch.from_file("/etc/hostname", False, 1, dtype=torch.uint8)
        return x + leaked.float().sum()
