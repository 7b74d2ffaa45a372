"""IMU augmentations on raw SI-unit batches `(B, P, C, T)`, each behind a flag of :class:`AugmentConfig`.

They run before normalisation because a rotation is only a rotation on the physical vectors. Rotations
are small (a sensor strapped a little differently), never arbitrary: the direction of gravity is what
tells lying from standing, and a full random rotation would erase it. Channels per placement are
`acc.x, acc.y, acc.z, gyro.x, gyro.y, gyro.z` (missing sensors are mean-filled and barely affected).
"""

from __future__ import annotations

import math

import torch

from encoders.config import AugmentConfig


def random_rotations(n: int, max_deg: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) rotation matrices about uniform random axes by angles uniform in [0, max_deg] (Rodrigues)."""
    axis = torch.randn(n, 3, generator=generator)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-8)
    angle = torch.rand(n, generator=generator) * math.radians(max_deg)
    kx, ky, kz = axis.unbind(1)
    zero = torch.zeros_like(kx)
    k = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(n, 3, 3)
    eye = torch.eye(3).expand(n, 3, 3)
    s, c = angle.sin().view(n, 1, 1), angle.cos().view(n, 1, 1)
    return eye + s * k + (1 - c) * (k @ k)


def rotate(x: torch.Tensor, max_deg: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate every (acc, gyro) triad of a placement by the same random rotation (one per window and placement)."""
    b, p, c, t = x.shape
    rot = random_rotations(b * p, max_deg, generator).view(b, p, 1, 3, 3)
    triads = x.view(b, p, c // 3, 3, t)
    return (rot @ triads).view(b, p, c, t)


def scale(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """One random gain per window, placement and sensor triad (sensor calibration, body size)."""
    b, p, c, t = x.shape
    gain = 1.0 + sigma * torch.randn(b, p, c // 3, 1, 1, generator=generator)
    return (x.view(b, p, c // 3, 3, t) * gain).view(b, p, c, t)


def jitter(x: torch.Tensor, sigma: float, channel_std: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise of `sigma` channel standard deviations (sensor noise)."""
    return x + sigma * channel_std * torch.randn(x.shape, generator=generator)


def time_warp(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Smoothly vary the playback speed within a window (linear interpolation on a random monotone time map).

    The map is renormalised to span the whole window, so the mean cadence (part of what separates walking
    from running) is kept and only its drift within the window varies, as it does between people.
    """
    b, p, c, t = x.shape
    knots = 1.0 + sigma * torch.randn(b, 4, generator=generator)
    speed = torch.nn.functional.interpolate(knots.clamp_min(0.2).unsqueeze(1), size=t, mode="linear", align_corners=True)
    position = torch.cumsum(speed.squeeze(1), dim=1)
    position = (position - position[:, :1]) / (position[:, -1:] - position[:, :1]).clamp_min(1e-6) * (t - 1)
    left = position.floor().long().clamp(0, t - 2)
    frac = (position - left).view(b, 1, 1, t)
    gather = lambda idx: torch.gather(x, 3, idx.view(b, 1, 1, t).expand(b, p, c, t))  # noqa: E731
    return gather(left) * (1 - frac) + gather(left + 1) * frac


def augment(
    x: torch.Tensor, config: AugmentConfig, channel_std: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Apply the enabled augmentations to a raw batch (B, P, C, T); `channel_std` is (P, C, 1)."""
    if config.rotation and config.rotation_max_deg > 0:
        x = rotate(x, config.rotation_max_deg, generator)
    if config.scaling and config.scaling_sigma > 0:
        x = scale(x, config.scaling_sigma, generator)
    if config.time_warp and config.time_warp_sigma > 0:
        x = time_warp(x, config.time_warp_sigma, generator)
    if config.jitter and config.jitter_sigma > 0:
        x = jitter(x, config.jitter_sigma, channel_std, generator)
    return x


def placement_mask(b: int, p: int, drop: float, generator: torch.Generator) -> torch.Tensor:
    """(b, p) bool: each placement kept with probability 1 - drop, and always at least one per window."""
    keep = torch.rand(b, p, generator=generator) >= drop
    rescue = torch.randint(0, p, (b,), generator=generator)
    keep[torch.arange(b), rescue] |= ~keep.any(dim=1)
    return keep
