#!/usr/bin/python3
"""Regenerate the small ONNX test models in test/fixtures/.

Developer-only: needs torch + torchvision (Debian's python3-torch / python3-torchvision work);
neither the runtime nor CI depends on it. Weights are random but seeded, so reruns give the same
files for the same torch version.

    /usr/bin/python3 tools/make_fixture_models.py

BatchNormalization stays a real node (not folded into the preceding Conv): the exporter folds BN
only in TrainingMode.EVAL, so we export with TrainingMode.PRESERVE on a model already in eval()
mode, which exports inference-mode BN (one output, running stats) and drops Dropout.
"""
import os
import sys

import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.resnet import Bottleneck

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
SEED = 20240611
MAX_BYTES = 3_000_000


def vgg16_w8() -> nn.Module:
    # torchvision VGG-16 "D" config with every conv width / 8. The classifier's 4096 / 8 = 512
    # would make the file ~9.5 MB (64·7·7·512 weights alone), so the hidden FC width is 96 to stay
    # under 3 MB; the topology (Linear/ReLU/Dropout ×2, Linear → 1000) is unchanged.
    cfg = [8, 8, 'M', 16, 16, 'M', 32, 32, 32, 'M', 64, 64, 64, 'M', 64, 64, 64, 'M']
    layers, c = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    hidden = 96
    m = tvm.VGG(nn.Sequential(*layers), num_classes=1000, init_weights=True)
    m.classifier = nn.Sequential(
        nn.Linear(64 * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, 1000),
    )
    for mod in m.classifier:
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0, (2.0 / mod.in_features) ** 0.5)
            nn.init.uniform_(mod.bias, -0.05, 0.05)
    return m


class ResNetW8(tvm.ResNet):
    """torchvision ResNet-50 (Bottleneck, 3-4-6-3) with every width / 8: stem 8, stages 8/16/32/64
    planes (×4 expansion → 32…256 channels), FC 256 → 1000."""

    def __init__(self) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=1000)
        w = 8
        self.inplanes = w
        self.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1 = self._make_layer(Bottleneck, w, 3)
        self.layer2 = self._make_layer(Bottleneck, 2 * w, 4, stride=2)
        self.layer3 = self._make_layer(Bottleneck, 4 * w, 6, stride=2)
        self.layer4 = self._make_layer(Bottleneck, 8 * w, 3, stride=2)
        self.fc = nn.Linear(8 * w * Bottleneck.expansion, 1000)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode='fan_out', nonlinearity='relu')


def densenet_tiny() -> nn.Module:
    return tvm.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, bn_size=4,
                        num_classes=10)


def randomize_stats(model: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BN so a missing or mis-wired BN shows: scale ~U(0.5, 1.5), shift ~N(0, 0.1),
    running mean ~N(0, 0.1), running var ~U(0.5, 2). Conv biases get small random values too
    (torchvision zero-initialises them, which would hide a dropped bias, and the exporter would
    merge the identical zero tensors into Identity nodes)."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d) and mod.bias is not None:
            with torch.no_grad():
                mod.bias.copy_((torch.rand(mod.out_channels, generator=gen) - 0.5) * 0.1)
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
    for mod in model.modules():
        if isinstance(mod, Bottleneck):
            # The residual stream grows with each block; a smaller last-BN scale (like
            # torchvision's zero_init_residual, but not zero) keeps the logits O(1).
            with torch.no_grad():
                mod.bn3.weight.mul_(0.25)


def export(name: str, model: nn.Module, size: int) -> None:
    gen = torch.Generator().manual_seed(SEED)
    randomize_stats(model, gen)
    model.eval()
    path = os.path.join(OUT, name)
    x = torch.randn(1, 3, size, size, generator=gen)
    torch.onnx.export(
        model, x, path,
        opset_version=13,
        input_names=['input'], output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )
    with torch.no_grad():
        y = model(x)
    nbytes = os.path.getsize(path)
    nparams = sum(p.numel() for p in model.parameters())
    print(f'wrote {os.path.relpath(path)}: {nbytes} bytes, {nparams} parameters, input 1×3×{size}×{size}, '
          f'logits {tuple(y.shape)}, |logits| max {y.abs().max().item():.3g} std {y.std().item():.3g}')
    if nbytes > MAX_BYTES:
        sys.exit(f'{name} is {nbytes} bytes, over the {MAX_BYTES}-byte budget for committed fixtures')


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    export('vgg16_w8.onnx', vgg16_w8(), 224)
    torch.manual_seed(SEED + 1)
    export('resnet50_w8.onnx', ResNetW8(), 224)
    torch.manual_seed(SEED + 2)
    export('densenet_tiny.onnx', densenet_tiny(), 64)


if __name__ == '__main__':
    main()
