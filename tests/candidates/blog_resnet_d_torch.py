"""ResNet-D ("Bag of Tricks", He et al. 2019) and SE-ResNet (Hu et al. 2018) as blog posts write them in PyTorch,
with their own names: a deep stem of three 3x3 convs, an average pool before the 1x1 projection, a squeeze-excitation
module on the residual branch.

Each keyword plants one slip people make when they write these from the papers:

* ``avg_down=False``: the plain strided 1x1 projection of torchvision (the stride left on the 1x1);
* ``floor_pool=True``: ``nn.AvgPool2d(2, 2)`` without ``ceil_mode=True``;
* ``padded_pool=True``: ``nn.ZeroPad2d((0, 1, 0, 1))`` + ``nn.AvgPool2d(2, 2)``, a Keras-style 'same' pool whose
  zeros are averaged in;
* ``se_after_add=True``: the excitation scales the block output, after the add;
* ``se_reduction=8``: another reduction ratio than timm's 16;
* ``hard_gate=True``: ``F.hardsigmoid`` as the gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, reduction: int, hard_gate: bool) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, channels // reduction, 1)
        self.expand = nn.Conv2d(channels // reduction, channels, 1)
        self.hard_gate = hard_gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        scale = self.expand(scale)
        return x * (F.hardsigmoid(scale) if self.hard_gate else torch.sigmoid(scale))


class Shortcut(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, avg_down: bool, floor_pool: bool, padded_pool: bool) -> None:
        super().__init__()
        if avg_down and stride > 1:
            pool = nn.AvgPool2d(2, 2) if floor_pool else nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
            self.pool = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.AvgPool2d(2, 2)) if padded_pool else pool
            stride = 1
        else:
            self.pool = nn.Identity()
        self.conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.pool(x)))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, options: dict) -> None:
        super().__init__()
        cout = width * 4
        self.c1, self.n1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.c2, self.n2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.c3, self.n3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.se = SqueezeExcitation(cout, options["se_reduction"], options["hard_gate"]) if options["se"] else None
        self.se_after_add = options["se_after_add"]
        self.shortcut = Shortcut(cin, cout, stride, options["avg_down"], options["floor_pool"],
                                 options["padded_pool"]) if stride > 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.n1(self.c1(x)))
        out = F.relu(self.n2(self.c2(out)))
        out = self.n3(self.c3(out))
        if self.se is not None and not self.se_after_add:
            out = self.se(out)
        out = F.relu(out + (x if self.shortcut is None else self.shortcut(x)))
        return self.se(out) if self.se is not None and self.se_after_add else out


class BlogResNetD(nn.Module):
    """ResNet-50-D (``deep_stem=True, avg_down=True``, the default) or SE-ResNet-50 (``se=True`` with the 7x7 stem and
    plain projections: ``BlogResNetD(deep_stem=False, avg_down=False, se=True)``)."""

    def __init__(self, deep_stem: bool = True, avg_down: bool = True, se: bool = False, floor_pool: bool = False,
                 padded_pool: bool = False, se_after_add: bool = False, se_reduction: int = 16,
                 hard_gate: bool = False, depths: tuple[int, ...] = (3, 4, 6, 3), num_classes: int = 1000) -> None:
        super().__init__()
        if deep_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
        options = {"avg_down": avg_down, "se": se, "floor_pool": floor_pool, "padded_pool": padded_pool,
                   "se_after_add": se_after_add, "se_reduction": se_reduction, "hard_gate": hard_gate}
        stages, cin = [], 64
        for index, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512))):
            for block in range(depth):
                stages.append(Bottleneck(cin, width, 2 if block == 0 and index > 0 else 1, options))
                cin = width * 4
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
