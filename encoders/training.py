"""The two training pipelines, seeded and deterministic.

(a) `ce`: cross-entropy over *fixed* text prototypes, logit = cosine / temperature. The IMU encoder
    learns to point at its activity's text embedding; nothing on the text side moves.
(b) `contrastive`: symmetric InfoNCE between window embeddings and the text embeddings of the activities
    in the batch, with a learnable (identity-initialised) text projection and a learnable temperature.
    The text->window direction has several positives per activity (every window of it in the batch), so
    it averages their log-probabilities (multi-positive InfoNCE).

Both add the same loss on every single-placement embedding (weight `placement_loss_weight`), so each
branch is useful alone, and both drop placements at random so the fused embedding of any subset is too.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch.nn import functional as F

from encoders.augment import augment, placement_mask
from encoders.config import TrainConfig
from encoders.progress import Progress
from encoders.tcn import MultiPlacementEncoder, TextProjection

log = logging.getLogger(__name__)


class TrainLog(BaseModel):
    """What happened during `fit`: per-epoch mean loss, wall time, and whether the time budget cut it short."""

    pipeline: str
    epochs_run: int
    losses: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False
    final_temperature: float


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled minibatches; a last batch of one window would break batch norm, so it joins the previous one."""
    order = rng.permutation(n)
    cuts = list(range(batch_size, n, batch_size))
    parts = np.split(order, cuts)
    if len(parts) > 1 and len(parts[-1]) < 2:
        parts[-2] = np.concatenate([parts[-2], parts.pop()])
    return parts


def _ce_loss(fused: torch.Tensor, per_placement: torch.Tensor, keep: torch.Tensor, y: torch.Tensor,
             protos: torch.Tensor, scale: torch.Tensor, placement_weight: float) -> torch.Tensor:
    """Cross-entropy of cosine logits for the fused and (weighted) every present single-placement embedding."""
    loss = F.cross_entropy(scale * fused @ protos.T, y)
    if placement_weight > 0:
        logits = scale * per_placement @ protos.T  # (B, P, K)
        per = F.cross_entropy(logits.permute(0, 2, 1), y.unsqueeze(1).expand(-1, keep.shape[1]), reduction="none")
        loss = loss + placement_weight * (per * keep).sum() / keep.sum()
    return loss


def _infonce_loss(fused: torch.Tensor, per_placement: torch.Tensor, keep: torch.Tensor, y: torch.Tensor,
                  protos: torch.Tensor, scale: torch.Tensor, placement_weight: float) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE over the activities present in the batch."""
    present, local = torch.unique(y, return_inverse=True)
    logits = scale * fused @ protos[present].T  # (B, U)
    window_to_text = F.cross_entropy(logits, local)
    positives = F.one_hot(local, len(present)).to(logits.dtype)  # (B, U)
    log_p = logits.log_softmax(dim=0)  # over windows, per text
    text_to_window = -((log_p * positives).sum(dim=0) / positives.sum(dim=0)).mean()
    loss = 0.5 * (window_to_text + text_to_window)
    if placement_weight > 0:
        logits_p = scale * per_placement @ protos[present].T
        per = F.cross_entropy(logits_p.permute(0, 2, 1), local.unsqueeze(1).expand(-1, keep.shape[1]), reduction="none")
        loss = loss + placement_weight * (per * keep).sum() / keep.sum()
    return loss


@dataclass
class _Step:
    """Everything one optimisation step needs, so the loops below stay short."""

    model: MultiPlacementEncoder
    text_projection: TextProjection
    log_scale: torch.nn.Parameter
    views: list[torch.Tensor]
    mean_views: torch.Tensor
    config: TrainConfig
    generator: torch.Generator

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Augment, drop placements, embed and score one raw batch (B, P*C, T)."""
        n_p, t = len(self.model.placements), xb.shape[-1]
        std = self.model.std.view(n_p, -1, 1)
        xb = augment(xb.view(len(xb), n_p, -1, t), self.config.augment, std, self.generator).reshape(len(xb), -1, t)
        keep = placement_mask(len(xb), n_p, self.config.augment.placement_dropout, self.generator)
        fused, per_placement = self.model(xb, keep)
        weight, scale = self.config.placement_loss_weight, self.log_scale.exp()
        if self.config.pipeline == "ce":
            return _ce_loss(fused, per_placement, keep, yb, self.mean_views, scale, weight)
        pick = [v[torch.randint(len(v), (1,), generator=self.generator)] for v in self.views]  # one text view each
        protos = self.text_projection(torch.cat(pick))
        decay = self.config.text_projection_decay * self.text_projection.residual.weight.pow(2).sum()
        return _infonce_loss(fused, per_placement, keep, yb, protos, scale, weight) + decay


def _optimiser(step: _Step, n_windows: int):
    """AdamW with one-cycle schedule; the contrastive temperature and text projection are not weight-decayed."""
    config = step.config
    groups = [{"params": list(step.model.parameters()), "weight_decay": config.weight_decay}]
    if config.pipeline == "contrastive":  # the projection has its own pull toward identity
        groups.append({"params": [step.log_scale, *step.text_projection.parameters()], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=config.lr)
    total = config.epochs * max(1, math.ceil(n_windows / config.batch_size))
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.15)


def train_encoder(
    model: MultiPlacementEncoder,
    text_projection: TextProjection,
    log_scale: torch.nn.Parameter,
    x: np.ndarray,
    y: np.ndarray,
    class_views: list[np.ndarray],
    config: TrainConfig,
    progress: Progress,
) -> TrainLog:
    """Train in place. x: (N, P*C, T) raw float32; y: (N,) index into `class_views` (per class: (n_views, D))."""
    rng = np.random.default_rng(config.seed)
    views = [torch.as_tensor(v) for v in class_views]
    step = _Step(model, text_projection, log_scale, views, F.normalize(torch.stack([v.mean(dim=0) for v in views]), dim=1),
                 config, torch.Generator().manual_seed(config.seed))
    opt, sched = _optimiser(step, len(x))
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    record = TrainLog(pipeline=config.pipeline, epochs_run=0, final_temperature=float(1 / log_scale.detach().exp()))
    start = time.perf_counter()
    model.train()
    with progress.task(f"training ({config.pipeline})", total=config.epochs) as advance:
        for epoch in range(config.epochs):
            total = 0.0
            for idx in _batches(len(x), config.batch_size, rng):
                loss = step.loss(xt[idx], yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    log_scale.clamp_(max=math.log(100.0))
                total += loss.item() * len(idx)
            record.losses.append(total / len(x))
            record.epochs_run = epoch + 1
            advance(f"loss {total / len(x):.3f}")
            budget = config.max_train_seconds
            if budget is not None and time.perf_counter() - start > budget and epoch + 1 < config.epochs:
                log.warning("training stopped after %d/%d epochs: time budget %.0f s used", epoch + 1, config.epochs, budget)
                record.stopped_early = True
                break
    model.eval()
    record.seconds = time.perf_counter() - start
    record.final_temperature = float(1 / log_scale.detach().exp())
    return record
