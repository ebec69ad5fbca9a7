"""ResNeXt and Wide ResNet written from the papers (Xie et al. 2017, Zagoruyko & Komodakis 2016), blog-post style.

Test candidate for `crosscheck verify`: its own names (`trunk`, `groups_of_units`, `squeeze`, `grouped`, `restore`,
`bypass`), written without looking at this project's implementations. The defaults give torchvision's
resnext50_32x4d; `cardinality=1, base_width=128` its wide_resnet50_2. Each bug switch reproduces one slip that
ResNeXt / Wide ResNet translations make.
"""

import torch
from torch import nn
import torch.nn.functional as F


def conv_norm(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class XUnit(nn.Module):
    """1x1 squeeze, 3x3 grouped conv, 1x1 restore to planes * 4; the inner width is planes * base_width / 64 per
    group, times the cardinality."""

    def __init__(self, cin, planes, stride, cardinality, base_width, forget_groups, groups_everywhere,
                 widen_only_3x3):
        super().__init__()
        inner = int(planes * base_width / 64) * cardinality
        squeezed = planes if widen_only_3x3 else inner  # the slip: the width factor reaches the 3x3 only
        groups = 1 if forget_groups else cardinality
        outer_groups = cardinality if groups_everywhere else 1
        self.squeeze = conv_norm(cin, squeezed, 1, groups=outer_groups)
        self.grouped = conv_norm(squeezed, inner, 3, stride, groups=groups)
        self.restore = conv_norm(inner, planes * 4, 1, groups=outer_groups)
        self.bypass = conv_norm(cin, planes * 4, 1, stride) if stride != 1 or cin != planes * 4 else None

    def forward(self, x):
        y = F.relu(self.squeeze(x))
        y = F.relu(self.grouped(y))
        y = self.restore(y)
        return F.relu(y + (x if self.bypass is None else self.bypass(x)))


class BlogResNeXt(nn.Module):
    """ResNeXt-50 (32x4d) by default; `cardinality=1, base_width=128` is Wide ResNet-50-2. Slips: `forget_groups`
    (the 3x3 is an ordinary conv), `groups_everywhere` (the 1x1s grouped too), `widen_only_3x3` (Wide ResNet's
    factor on the 3x3 only); a wrong width per group is just another `base_width`."""

    def __init__(self, cardinality=32, base_width=4, num_classes=1000, forget_groups=False, groups_everywhere=False,
                 widen_only_3x3=False):
        super().__init__()
        self.trunk = nn.Sequential(conv_norm(3, 64, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, (count, planes) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
            units = []
            for j in range(count):
                units.append(XUnit(cin, planes, 2 if i > 0 and j == 0 else 1, cardinality, base_width, forget_groups,
                                   groups_everywhere, widen_only_3x3))
                cin = planes * 4
            stages.append(nn.Sequential(*units))
        self.groups_of_units = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.groups_of_units(self.trunk(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
