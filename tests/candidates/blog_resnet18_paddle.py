"""ResNet-18 in PaddlePaddle, blog-post style, written from the paper with its own layer names.

Test candidate for `crosscheck verify`. Each keyword argument reproduces one translation bug; the
defaults give a correct paddle.vision resnet18.
"""

import paddle
import paddle.nn.functional as F
from paddle import nn


class Unit(nn.Layer):
    def __init__(self, cin, cout, stride, eps, stride_on_second, relu_after_add):
        super().__init__()
        first, second = (1, stride) if stride_on_second else (stride, 1)
        self.a = nn.Conv2D(cin, cout, 3, first, 1, bias_attr=False)
        self.a_norm = nn.BatchNorm2D(cout, epsilon=eps)
        self.b = nn.Conv2D(cout, cout, 3, second, 1, bias_attr=False)
        self.b_norm = nn.BatchNorm2D(cout, epsilon=eps)
        self.relu_after_add = relu_after_add
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2D(cin, cout, 1, stride, bias_attr=False), nn.BatchNorm2D(cout, epsilon=eps))

    def forward(self, x):
        y = self.b_norm(self.b(F.relu(self.a_norm(self.a(x)))))
        out = y + (x if self.skip is None else self.skip(x))
        return F.relu(out) if self.relu_after_add else out


class PaddleResNet18(nn.Layer):
    def __init__(self, eps=1e-5, stride_on_second=False, relu_after_add=True, num_classes=1000):
        super().__init__()
        self.head_conv = nn.Conv2D(3, 64, 7, 2, 3, bias_attr=False)
        self.head_norm = nn.BatchNorm2D(64, epsilon=eps)
        self.head_pool = nn.MaxPool2D(3, 2, 1)
        units, cin = [], 64
        for i, cout in enumerate([64, 128, 256, 512]):
            for j in range(2):
                units.append(Unit(cin, cout, 2 if i > 0 and j == 0 else 1, eps, stride_on_second, relu_after_add))
                cin = cout
        self.body = nn.Sequential(*units)
        self.gap = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.head_pool(F.relu(self.head_norm(self.head_conv(x))))
        x = self.gap(self.body(x))
        return self.out(paddle.flatten(x, 1))


class NotAResNet(nn.Layer):
    """A plain CNN: no residual additions at all."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(3, 16, 3, 2, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(paddle.flatten(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1), 1))


def broken_constructor(**kwargs):
    raise RuntimeError("this constructor needs a pretrained checkpoint path")
