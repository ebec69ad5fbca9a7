"""A PyTorch port of a Keras ResNet50V2, line by line, as people translate a model they found in a blog.

Test candidate for `crosscheck verify --against`: pre-activation bottlenecks in `nn.Sequential`
stages, the stride in the last block of stages 2-4 with a `MaxPool2d(1, stride)` shortcut, conv
biases where Keras has them (stem, projection, last 1x1), the stem pool zero-padded explicitly
(Keras pads with zeros, and the V2 pool sees the raw conv output), post-BN, softmax head. `eps` is
the source's BatchNormalization epsilon: a faithful port copies it, whatever it is.
"""

import torch
from torch import nn


class PreActBottleneck(nn.Module):
    def __init__(self, in_ch, width, stride, conv_shortcut, eps):
        super().__init__()
        self.preact_bn = nn.BatchNorm2d(in_ch, eps=eps)
        self.shortcut = nn.Conv2d(in_ch, width * 4, 1, stride) if conv_shortcut else None
        self.pool = nn.MaxPool2d(1, stride) if stride > 1 and not conv_shortcut else None
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=eps)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width, eps=eps)
        self.conv3 = nn.Conv2d(width, width * 4, 1)

    def forward(self, x):
        preact = torch.relu(self.preact_bn(x))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        elif self.pool is not None:
            shortcut = self.pool(x)
        else:
            shortcut = x
        out = torch.relu(self.bn1(self.conv1(preact)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.conv3(out)
        return shortcut + out


def stack(in_ch, width, blocks, stride, eps):
    layers = [PreActBottleneck(in_ch, width, 1, True, eps)]
    layers += [PreActBottleneck(width * 4, width, 1, False, eps) for _ in range(blocks - 2)]
    layers.append(PreActBottleneck(width * 4, width, stride, False, eps))
    return nn.Sequential(*layers)


class ResNet50V2(nn.Module):
    def __init__(self, num_classes=1000, eps=1.001e-5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3)
        self.pool = nn.Sequential(nn.ZeroPad2d(1), nn.MaxPool2d(3, 2))
        self.conv2 = stack(64, 64, 3, 2, eps)
        self.conv3 = stack(256, 128, 4, 2, eps)
        self.conv4 = stack(512, 256, 6, 2, eps)
        self.conv5 = stack(1024, 512, 3, 1, eps)
        self.post_bn = nn.BatchNorm2d(2048, eps=eps)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.pool(self.conv1(x))
        x = self.conv5(self.conv4(self.conv3(self.conv2(x))))
        x = torch.relu(self.post_bn(x))
        x = x.mean(dim=(2, 3))
        return torch.softmax(self.fc(x), dim=1)
