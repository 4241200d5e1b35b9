"""Deterministic training of the `classifier` extractor on labelled uint8 images.

Everything random (initialisation, batch order, flips, 4-pixel reflect-padded translations)
draws from one `torch.Generator` seeded by `ClassifierConfig.seed`; cuDNN runs in
deterministic mode during training, and on the CPU it trains on one thread: a sum split across
threads rounds differently per thread count, and training turns those last bits into other
weights (a classifier trained by a 1-thread `optgan train` and a 2-thread `optgan eval` differed). AdamW with a cosine-decayed learning rate, label
smoothing 0.1; a tqdm bar shows the epochs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from optgan.backends import cpu_threads, tf32_allowed
from optgan.config.metrics import ClassifierConfig
from optgan.metrics.classifier_net import ClassifierNet
from optgan.progress import progress_bar

__all__ = ["train_classifier", "classifier_accuracy"]

_SHIFT = 4


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, cfg: ClassifierConfig,
                     device: torch.device, progress: bool = True) -> ClassifierNet:
    """A ClassifierNet trained on uint8 N×3×H×W `images` with int64 `labels` (returned in eval mode)."""
    g = torch.Generator().manual_seed(cfg.seed)
    net = ClassifierNet(num_classes, cfg.width, cfg.feature_dim, generator=g).to(device)
    n = len(images)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = max(n // bs, 1)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    net.train()
    bar = progress_bar(range(cfg.epochs), show=progress, desc="training the classifier extractor", unit="epoch")
    with _deterministic(), tf32_allowed(False), cpu_threads(1 if device.type == "cpu" else None):
        for _ in bar:
            perm = torch.randperm(n, generator=g)
            for i in range(steps_per_epoch):
                idx = perm[i * bs : (i + 1) * bs]
                x = images[idx].to(device).float() / 127.5 - 1.0
                if cfg.augment:
                    x = _augment(x, g)
                loss = F.cross_entropy(net.forward_float(x)[1], labels[idx].to(device), label_smoothing=0.1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return net.eval()


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and per-image translations of up to ±4 pixels (reflect padding)."""
    b, _, h, w = x.shape
    flip = (torch.rand(b, generator=g) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dy, dx = (torch.randint(0, 2 * _SHIFT + 1, (2, b), generator=g)).to(x.device)
    padded = F.pad(x, (_SHIFT,) * 4, mode="reflect").permute(0, 2, 3, 1)  # B×H'×W'×C
    rows = (torch.arange(h, device=x.device)[None] + dy[:, None])[:, :, None]
    cols = (torch.arange(w, device=x.device)[None] + dx[:, None])[:, None, :]
    out = padded[torch.arange(b, device=x.device)[:, None, None], rows, cols]
    return out.permute(0, 3, 1, 2).contiguous()


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@torch.no_grad()
def classifier_accuracy(net: ClassifierNet, images: torch.Tensor, labels: torch.Tensor,
                        device: torch.device, batch_size: int = 500) -> float:
    """Top-1 accuracy of `net` on uint8 `images` (mode of `net` restored)."""
    was_training = net.training
    net.eval()
    correct = 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        correct += int((net(x.to(device))[1].argmax(1).cpu() == y).sum())
    net.train(was_training)
    return correct / max(len(images), 1)
