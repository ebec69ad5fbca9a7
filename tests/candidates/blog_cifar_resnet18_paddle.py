"""A CIFAR-10 ResNet-18 in PaddlePaddle as training blogs write it: kuangliu's PyTorch model ported line by line.

Test candidate for `crosscheck verify`. The head is `F.avg_pool2d(out, 4)` and `paddle.reshape`, a fixed
4x4 window that is the global average only where the final map is 4x4 (a 32x32 input). `window=2`
is a slip that changes the function: a 2x2 pool leaves 2x2 positions and the classifier reads
512*4 features.
"""

import paddle
import paddle.nn.functional as F
from paddle import nn


class BasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2D(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, kernel_size=3, stride=1, padding=1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2D(in_planes, planes, kernel_size=1, stride=stride, bias_attr=False),
                                          nn.BatchNorm2D(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNet18(nn.Layer):
    def __init__(self, num_classes=10, window=4):
        super().__init__()
        self.window = window
        self.in_planes = 64
        self.conv1 = nn.Conv2D(3, 64, kernel_size=3, stride=1, padding=1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(64)
        self.layer1 = self._make_layer(64, 1)
        self.layer2 = self._make_layer(128, 2)
        self.layer3 = self._make_layer(256, 2)
        self.layer4 = self._make_layer(512, 2)
        self.linear = nn.Linear(512 * (4 // window) ** 2, num_classes)

    def _make_layer(self, planes, stride):
        layers = []
        for stride in [stride, 1]:
            layers.append(BasicBlock(self.in_planes, planes, stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, self.window)
        out = paddle.reshape(out, [out.shape[0], -1])
        return self.linear(out)
