#!/usr/bin/python3
"""Export the torchvision classification architectures that aeq must explain (issue 10) as small
ONNX fixtures in test/fixtures/arch/, plus two tiny standalone graphs (EfficientNet-B0's
squeeze-and-excitation block, ConvNeXt's channel-last LayerNorm block).

Developer-only: needs Debian's python3-torch, python3-torchvision and python3-onnx (never a
runtime or CI dependency). Weights are random but seeded; widths are reduced where the full model
would be large (the topology, and so the operator set, is torchvision's), inputs are small.
Exported as a user would: torch.onnx.export, opset 13, eval mode (BatchNormalization folded into
the convolutions by the exporter's constant folding).

    /usr/bin/python3 tools/make_arch_fixtures.py            # all
    /usr/bin/python3 tools/make_arch_fixtures.py convnext   # one

Writes test/fixtures/arch/<name>.onnx and test/fixtures/arch/manifest.json (input shape, class
count, the torchvision module path of the layer spec §1.3b names as the default, as exported).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
import torchvision.models as tvm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'arch')
SEED = 20261202
CLASSES = 7  # odd: no reduced width equals it by accident (SqueezeNet's class conv and tiny_se's SE squeeze do on purpose)
MAX_BYTES = 2_500_000


def shrink(model: nn.Module, f: int, keep_in=3, keep_out=CLASSES) -> nn.Module:
    """Divide every Conv2d / BatchNorm2d / Linear width by f (input channels 3 and the class
    count kept; groups divided too unless depthwise), for torchvision models whose forward
    passes never name a channel count (AlexNet, VGG, ResNet family, Inception, GoogLeNet)."""
    def d(c, keep):
        return c if c == keep else max(1, c // f)

    for name, m in list(model.named_children()):
        if isinstance(m, nn.Conv2d):
            cin, cout = d(m.in_channels, keep_in), d(m.out_channels, keep_out)
            g = m.groups
            if g > 1:
                g = cin if g == m.in_channels else max(1, g // f)
            setattr(model, name, nn.Conv2d(cin, cout, m.kernel_size, m.stride, m.padding, m.dilation, g, m.bias is not None))
        elif isinstance(m, nn.BatchNorm2d):
            setattr(model, name, nn.BatchNorm2d(d(m.num_features, -1), m.eps, m.momentum))
        elif isinstance(m, nn.Linear):
            setattr(model, name, nn.Linear(d(m.in_features, -1), d(m.out_features, keep_out), m.bias is not None))
        else:
            shrink(m, f, keep_in, keep_out)
    return model


def randomise(model: nn.Module) -> nn.Module:
    """Seeded weights with non-trivial BN statistics, so folded BN is not the identity."""
    g = torch.Generator().manual_seed(SEED)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
            with torch.no_grad():
                if m.weight is not None:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                    m.running_var.copy_(1 + 0.3 * torch.rand(m.running_var.shape, generator=g))
    return model


def resnet_like(block, layers, f, **kw):
    return shrink(tvm.ResNet(block, layers, num_classes=CLASSES, **kw), f)


def mobilenet_v3_small():
    from torchvision.models.mobilenetv3 import _mobilenet_v3_conf
    setting, last = _mobilenet_v3_conf('mobilenet_v3_small', width_mult=0.25)
    return tvm.MobileNetV3(setting, last // 4, num_classes=CLASSES)


def efficientnet_b0():
    from torchvision.models.efficientnet import _efficientnet_conf
    setting, last = _efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=1.0)
    return tvm.EfficientNet(setting, 0.2, num_classes=CLASSES, last_channel=last)


def regnet_y_400mf():
    from torchvision.models.regnet import BlockParams
    # Y-400MF: depth 16, w_0 48, w_a 27.89, w_m 2.09, group width 8, SE 0.25; widths / 4.
    params = BlockParams.from_init_params(depth=16, w_0=16, w_a=7.0, w_m=2.09, group_width=4, se_ratio=0.25)
    return tvm.RegNet(params, num_classes=CLASSES, stem_width=8)


def convnext_tiny():
    from torchvision.models.convnext import CNBlockConfig
    # Tiny: 96/192/384/768 channels, 3-3-9-3 blocks; widths / 8.
    setting = [CNBlockConfig(12, 24, 3), CNBlockConfig(24, 48, 3), CNBlockConfig(48, 96, 9), CNBlockConfig(96, None, 3)]
    return tvm.ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=CLASSES)


class SqueezeExcitation(nn.Module):
    """EfficientNet-B0's MBConv squeeze-and-excitation with SiLU (torchvision's ops.SqueezeExcitation),
    its squeeze width equal to the class count: spec §1.3b's trap for the default layer."""

    def __init__(self, c=16, s=CLASSES):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.act = nn.SiLU()
        self.se = torchvision.ops.SqueezeExcitation(c, s, activation=nn.SiLU)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, CLASSES)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.se(self.act(self.conv(x)))), 1))


class ChannelLastLayerNorm(nn.Module):
    """ConvNeXt's block core: depthwise 7×7, permute to NHWC, LayerNorm, Linear ×4, GELU, Linear, back."""

    def __init__(self, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, stride=4)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * c, c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, CLASSES)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(self.act(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        return self.head(torch.flatten(self.pool(x + y), 1))


# AlexNet and VGG keep 224 px: their AdaptiveAvgPool to 6×6 / 7×7 exports only from a multiple.
# name → (constructor, input size, the default layer of spec §1.3b as a module path)
MODELS = {
    'alexnet': (lambda: shrink(tvm.AlexNet(num_classes=CLASSES), 16), 224, 'features.11 (last ReLU of features)'),
    'vgg11_bn': (lambda: shrink(tvm.vgg11_bn(num_classes=CLASSES), 16), 224, 'features.27 (last ReLU of features)'),
    'resnet18': (lambda: resnet_like(tvm.resnet.BasicBlock, [2, 2, 2, 2], 8), 64, 'layer4 output (last residual ReLU)'),
    'resnext50': (lambda: resnet_like(tvm.resnet.Bottleneck, [3, 4, 6, 3], 8, groups=32, width_per_group=4), 64, 'layer4 output'),
    'wide_resnet50': (lambda: resnet_like(tvm.resnet.Bottleneck, [3, 4, 6, 3], 16, width_per_group=128), 64, 'layer4 output'),
    'densenet121': (lambda: tvm.DenseNet(growth_rate=8, block_config=(6, 12, 24, 16), num_init_features=16, num_classes=CLASSES), 64, 'final ReLU after norm5'),
    'inception_v3': (lambda: shrink(tvm.Inception3(num_classes=CLASSES, aux_logits=False, transform_input=False, init_weights=False), 8), 128, 'Mixed_7c Concat'),
    'googlenet': (lambda: shrink(tvm.GoogLeNet(num_classes=CLASSES, aux_logits=False, transform_input=False, init_weights=False), 8), 64, 'inception5b Concat'),
    'squeezenet1_1': (lambda: shrink(tvm.SqueezeNet('1_1', num_classes=CLASSES), 4), 64, 'features.12 (fire8 Concat)'),
    'mobilenet_v2': (lambda: tvm.MobileNetV2(num_classes=CLASSES, width_mult=0.25), 64, 'last features block activation (Clip)'),
    'mobilenet_v3_small': (mobilenet_v3_small, 64, 'last features block activation (HardSwish)'),
    'shufflenet_v2': (lambda: tvm.ShuffleNetV2([4, 8, 4], [8, 16, 32, 64, 128], num_classes=CLASSES), 64, 'conv5 output (ReLU)'),
    'mnasnet': (lambda: tvm.MNASNet(0.25, num_classes=CLASSES), 64, 'last ReLU of layers'),
    'convnext_tiny': (convnext_tiny, 64, "last stage's last residual Add (before the final LayerNorm)"),
    'efficientnet_b0': (efficientnet_b0, 64, 'last features block activation (SiLU)'),
    'regnet_y_400mf': (regnet_y_400mf, 64, 'trunk_output last block (ReLU after the residual Add)'),
    'tiny_se': (SqueezeExcitation, 16, 'the SE block output (gating Mul)'),
    'tiny_layernorm': (ChannelLastLayerNorm, 32, 'the residual Add'),
}


def export(name: str) -> dict:
    ctor, size, layer = MODELS[name]
    torch.manual_seed(SEED)
    model = randomise(ctor()).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(SEED + 1))
    path = os.path.join(OUT, f'{name}.onnx')
    with torch.no_grad():
        torch.onnx.export(model, x, path, opset_version=13, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}}, do_constant_folding=True)
    size_b = os.path.getsize(path)
    if size_b > MAX_BYTES:
        raise SystemExit(f'{name}: {size_b} bytes, over the {MAX_BYTES} budget; reduce its widths')
    import onnx
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f'{name}: {size_b / 1e6:.2f} MB, input 1×3×{size}×{size}, ops {" ".join(ops)}')
    return {'input': [1, 3, size, size], 'classes': CLASSES, 'default_layer': layer, 'bytes': size_b, 'ops': ops}


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    names = sys.argv[1:] or list(MODELS)
    mpath = os.path.join(OUT, 'manifest.json')
    models = json.load(open(mpath))['models'] if os.path.exists(mpath) else {}
    for n in names:
        models[n] = export(n)
    doc = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'opset': 13, 'seed': SEED,
           'models': {k: models[k] for k in MODELS if k in models}}
    with open(mpath, 'w') as fh:
        json.dump(doc, fh, indent=1)
        fh.write('\n')

if __name__ == '__main__':
    main()
