"""A ResNet written from the papers (He et al. 2015, and the v1.5 stride placement), blog-post style.

Test candidate for `crosscheck verify`: its own names (stem / stages / units, `reduce`, `spatial`,
`expand`, `proj`), written without looking at this project's implementations. Each keyword argument
reproduces one translation bug people make; the defaults give a correct torchvision ResNet18/50.
"""

import torch
from torch import nn
import torch.nn.functional as F

LAYOUTS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3])}


class Options:
    """The bug switches shared by every unit."""

    def __init__(self, stride_on_1x1=False, relu_after_add=True, eps=1e-5, conv_bias=False, extra_relu=False,
                 shortcut_bn=True, second_conv_stride=False):
        self.stride_on_1x1 = stride_on_1x1
        self.relu_after_add = relu_after_add
        self.eps = eps
        self.conv_bias = conv_bias
        self.extra_relu = extra_relu
        self.shortcut_bn = shortcut_bn
        self.second_conv_stride = second_conv_stride


def conv_bn(cin, cout, k, stride, opts):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=opts.conv_bias), nn.BatchNorm2d(cout, eps=opts.eps))


class Projection(nn.Module):
    def __init__(self, cin, cout, stride, opts):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, bias=opts.conv_bias)
        self.norm = nn.BatchNorm2d(cout, eps=opts.eps) if opts.shortcut_bn else nn.Identity()

    def forward(self, x):
        return self.norm(self.conv(x))


class BasicUnit(nn.Module):
    grow = 1

    def __init__(self, cin, width, stride, opts):
        super().__init__()
        self.opts = opts
        self.first = conv_bn(cin, width, 3, stride, opts)
        self.second = conv_bn(width, width, 3, stride if opts.second_conv_stride else 1, opts)
        self.proj = Projection(cin, width, stride, opts) if stride != 1 or cin != width else None
        if opts.second_conv_stride and self.proj is not None:
            self.proj.conv.stride = (stride * stride, stride * stride)  # keep the add's shapes consistent

    def forward(self, x):
        y = F.relu(self.first(x))
        y = self.second(y)
        if self.opts.extra_relu:
            y = F.relu(y)
        skip = x if self.proj is None else self.proj(x)
        out = y + skip
        return F.relu(out) if self.opts.relu_after_add else out


class BottleneckUnit(nn.Module):
    grow = 4

    def __init__(self, cin, width, stride, opts):
        super().__init__()
        self.opts = opts
        self.reduce = conv_bn(cin, width, 1, stride if opts.stride_on_1x1 else 1, opts)
        self.spatial = conv_bn(width, width, 3, 1 if opts.stride_on_1x1 else stride, opts)
        self.expand = conv_bn(width, width * 4, 1, 1, opts)
        self.proj = Projection(cin, width * 4, stride, opts) if stride != 1 or cin != width * 4 else None

    def forward(self, x):
        y = F.relu(self.reduce(x))
        y = F.relu(self.spatial(y))
        y = self.expand(y)
        if self.opts.extra_relu:
            y = F.relu(y)
        skip = x if self.proj is None else self.proj(x)
        out = y + skip
        return F.relu(out) if self.opts.relu_after_add else out


class BlogResNet(nn.Module):
    """ResNet-18/34/50; `pool_pad` 'zero' pads the stem max-pool explicitly with zeros; `softmax` adds softmax;
    `stem_width` other than 64 is a wrong channel count."""

    def __init__(self, depth=50, num_classes=1000, pool_pad="neg_inf", softmax=False, stem_width=64, **bugs):
        super().__init__()
        kind, counts = LAYOUTS[depth]
        unit = BasicUnit if kind == "basic" else BottleneckUnit
        opts = Options(**bugs)
        self.stem = conv_bn(3, stem_width, 7, 2, opts)
        if pool_pad == "zero":
            self.pool = nn.Sequential(nn.ZeroPad2d(1), nn.MaxPool2d(3, 2))
        else:
            self.pool = nn.MaxPool2d(3, 2, padding=1)
        stages, cin = [], stem_width
        for i, (count, width) in enumerate(zip(counts, [64, 128, 256, 512])):
            units = []
            for j in range(count):
                units.append(unit(cin, width, 2 if (i > 0 and j == 0) else 1, opts))
                cin = width * unit.grow
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Linear(cin, num_classes)
        self.softmax = softmax

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        x = self.stages(x)
        x = self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return x.softmax(-1) if self.softmax else x
