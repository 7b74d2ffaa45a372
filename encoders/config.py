"""Typed configurations of the encoders (pydantic v2): what a pack stores and what a benchmark record cites.

Everything that changes a trained encoder's behaviour lives here, so that a saved `config.json` plus the
`state_dict` reproduce the encoder exactly and a changed default can never silently alter an old pack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Pipeline = Literal["ce", "contrastive"]
TextView = Literal["name", "description", "ensemble"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TCNConfig(_Frozen):
    """Shape of one placement branch: a stride-2 stem, dilated residual blocks, mean+std pooling."""

    width: int = Field(default=32, ge=4, description="channels of every convolution")
    kernel_size: int = Field(default=5, ge=2)
    dilations: tuple[int, ...] = Field(default=(1, 2, 4), min_length=1)
    stem_stride: int = Field(default=4, ge=1, description="downsampling of the stem; divides the cost of all blocks")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)


class AugmentConfig(_Frozen):
    """IMU augmentations, each behind a flag; all act on SI-unit signals before normalisation."""

    rotation: bool = Field(default=True, description="small random 3D rotation per placement (sensor mounting)")
    rotation_max_deg: float = Field(default=15.0, ge=0.0, le=180.0)
    scaling: bool = Field(default=True, description="random gain per placement and sensor")
    scaling_sigma: float = Field(default=0.1, ge=0.0)
    jitter: bool = Field(default=True, description="additive Gaussian noise, relative to each channel's std")
    jitter_sigma: float = Field(default=0.05, ge=0.0)
    time_warp: bool = Field(default=True, description="smooth random speed change within a window (the window "
                            "still spans the same time, so the mean cadence is kept); on since it raised held-out "
                            "dsads-xsub macro-F1 in 7 of 8 fold x seed x source comparisons")
    time_warp_sigma: float = Field(default=0.1, ge=0.0)
    placement_dropout: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="chance of dropping each placement (at least one is kept)"
    )

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(rotation=False, scaling=False, jitter=False, time_warp=False, placement_dropout=0.0)


class TrainConfig(_Frozen):
    """One training pipeline: cross-entropy on fixed prototypes, or contrastive (symmetric InfoNCE)."""

    pipeline: Pipeline = "ce"
    text_view: TextView = Field(default="description", description="which text the training prototypes embed")
    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=256, ge=2)
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=1e-3, ge=0)
    temperature: float = Field(default=0.1, gt=0, description="CE: fixed; contrastive: initial value (learned)")
    text_projection_decay: float = Field(
        default=1.0, ge=0, description="contrastive: L2 pull of the learnable text projection toward identity"
    )
    placement_loss_weight: float = Field(
        default=0.3, ge=0, description="weight of the same loss on each single-placement embedding"
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    seed: int = 0
    threads: int = Field(
        default=1, ge=1, le=2, description="torch threads (training and inference); 1 is faster on a busy 2-core machine"
    )
    max_train_seconds: float | None = Field(
        default=None, gt=0, description="optional hard stop (the encoder study's 5 minutes a fold); None trains every "
        "epoch, so the same data and settings give the same encoder on a slow machine as on a fast one",
    )


class EncoderConfig(_Frozen):
    """What a fitted encoder needs besides its weights: architecture, channel layout, text space."""

    tcn: TCNConfig = Field(default_factory=TCNConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    embed_dim: int = Field(default=384, description="dimension of the text-embedding space")
    text_model: str = "all-MiniLM-L6-v2"
    placements: tuple[str, ...] = ()
    sensors: tuple[str, ...] = ("acc", "gyro")
    n_timepoints: int = 0
    sampling_rate_hz: float = 0.0
    channel_mean: dict[str, float] = Field(default_factory=dict, description="reference statistics per channel")
    channel_std: dict[str, float] = Field(default_factory=dict)
    activities: tuple[str, ...] = Field(default=(), description="the seen activities the encoder was trained on")

    @field_validator("channel_std")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not v > 0]
        if bad:
            raise ValueError(f"channel_std must be positive, not for {bad}")
        return value
