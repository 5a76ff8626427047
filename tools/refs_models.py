#!/usr/bin/python3
"""Shared by tools/make_lrp_refs.py, make_cam_refs.py and make_eb_refs.py (issue 11): the two committed
baseline models rebuilt as torch modules from their ONNX files, the input, the targets, and the second
manifest (test/fixtures/baselines/references.json).

The torch modules are built from the committed .onnx files' initializers, node by node (BatchNormalization
is already folded into the convolutions there, so every conv has a bias and there is no BN module): they
compute what the ONNX graphs compute (checked against manifest.json's logits, ≤ 1e-5). The residual
additions are a module of their own (`Add`) so that each reference library can hook them: Zennit's
`zennit.layer.Sum` over the two summands stacked on a last axis (`mode='zennit'`, so that its Norm rule
applies), TorchRay's `EltwiseSum` (`mode='torchray'`), or a plain `a + b`. The summands keep the ONNX
Add's operand order (the conv branch first, the skip second).

The third model, `resnet-bn` (test/fixtures/baselines/resnet-bn.onnx, written by `export_resnet_bn`), is the
resnet with BatchNormalization **unfolded**: the very torch module that tools/make_baseline_refs.py built and
exported folded (its seeded construction replayed here: torch.manual_seed(SEED), the two draws of x and the
baseline, the vgg, then the resnet and its randomised BN statistics; the replay is checked against
manifest.json's logits), exported in eval mode without the exporter's Conv+BN fusion (convs without bias,
each followed by a BatchNormalization node with one output). `build('resnet-bn')` rebuilds it from that file
with BatchNorm2d modules (`ResNet(bn=True)`), registered right after their convs so that Zennit's
SequentialMergeBatchNorm finds every (conv, BN) pair.

The batch explained is x repeated per target, sample-major: row n·T + j is input n with target j.
Developer-only: Debian's python3-torch and python3-onnx.
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'baselines')
MANIFEST = os.path.join(OUT, 'references.json')


def load_onnx(name):
    model = onnx.load(os.path.join(OUT, f'{name}.onnx'))
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    return model, inits


class Add(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        if mode == 'zennit':
            from zennit.layer import Sum
            self.sum = Sum()
        elif mode == 'torchray':
            from torchray.attribution.excitation_backprop import EltwiseSum
            self.sum = EltwiseSum()

    def forward(self, a, b):
        if self.mode == 'zennit':
            return self.sum(torch.stack([a, b], dim=-1))
        if self.mode == 'torchray':
            return self.sum(a, b)
        return a + b


class Vgg(nn.Module):
    """features.0 … features.10 and classifier.0 … classifier.3 as in the ONNX node names."""
    def __init__(self, classes=6):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class Block(nn.Module):
    """A basic block; bn=True: convs without bias, each followed by its BatchNorm2d (make_baseline_refs.py's
    block: the parameters are created in the same order, so a seeded construction draws the same weights)."""
    def __init__(self, cin, cout, stride, mode, bn=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(cout) if bn else None
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.bn2 = nn.BatchNorm2d(cout) if bn else None
        self.down = None
        if stride != 1 or cin != cout:
            conv = nn.Conv2d(cin, cout, 1, stride, bias=not bn)
            self.down = nn.Sequential(conv, nn.BatchNorm2d(cout)) if bn else conv
        self.add = Add(mode)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.conv1(x)
        y = self.relu1(y if self.bn1 is None else self.bn1(y))
        y = self.conv2(y)
        y = y if self.bn2 is None else self.bn2(y)
        return self.relu2(self.add(y, x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """The folded resnet: stem conv (+bias) → ReLU → two basic blocks → GAP → Flatten → fc; bn=True: the
    unfolded one (every conv without bias and followed by a BatchNorm2d)."""
    def __init__(self, mode='plain', classes=6, bn=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=not bn), *([nn.BatchNorm2d(8)] if bn else []), nn.ReLU())
        self.layer1 = Block(8, 8, 1, mode, bn)
        self.layer2 = Block(8, 16, 2, mode, bn)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.layer2(self.layer1(self.stem(x))))))


# ONNX Conv/Gemm node name → torch module path, per model.
NODE_MODULES = {
    'vgg': {
        '/features/features.0/Conv': 'features.0', '/features/features.2/Conv': 'features.2',
        '/features/features.5/Conv': 'features.5', '/features/features.8/Conv': 'features.8',
        '/classifier/classifier.1/Gemm': 'classifier.1', '/classifier/classifier.3/Gemm': 'classifier.3',
    },
    'resnet': {
        '/stem/stem.0/Conv': 'stem.0', '/layer1/conv1/Conv': 'layer1.conv1', '/layer1/conv2/Conv': 'layer1.conv2',
        '/layer2/conv1/Conv': 'layer2.conv1', '/layer2/conv2/Conv': 'layer2.conv2',
        '/layer2/down/down.0/Conv': 'layer2.down', '/fc/Gemm': 'fc',
    },
    'resnet-bn': {
        '/stem/stem.0/Conv': 'stem.0', '/layer1/conv1/Conv': 'layer1.conv1', '/layer1/conv2/Conv': 'layer1.conv2',
        '/layer2/conv1/Conv': 'layer2.conv1', '/layer2/conv2/Conv': 'layer2.conv2',
        '/layer2/down/down.0/Conv': 'layer2.down.0', '/fc/Gemm': 'fc',
    },
}
# ONNX BatchNormalization node name → torch module path (resnet-bn only).
BN_MODULES = {
    'resnet-bn': {
        '/stem/stem.1/BatchNormalization': 'stem.1', '/layer1/bn1/BatchNormalization': 'layer1.bn1',
        '/layer1/bn2/BatchNormalization': 'layer1.bn2', '/layer2/bn1/BatchNormalization': 'layer2.bn1',
        '/layer2/bn2/BatchNormalization': 'layer2.bn2', '/layer2/down/down.1/BatchNormalization': 'layer2.down.1',
    },
}
# The seed of tools/make_baseline_refs.py, whose construction export_resnet_bn replays.
SEED = 20261111


def base_of(name):
    """The model of manifest.json whose logits a model has: resnet-bn is the resnet, BN unfolded."""
    return 'resnet' if name == 'resnet-bn' else name


def randomise_bn(model):
    """Non-trivial running statistics and affine parameters, so that folding BN matters (make_baseline_refs.py
    draws them with this function too, so the replayed construction makes the same draws in order)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.7, 1.3)
            m.bias.data.uniform_(-0.1, 0.1)


def export_resnet_bn():
    """Write test/fixtures/baselines/resnet-bn.onnx: make_baseline_refs.py's resnet before folding. Its seeded
    construction is replayed (x, the baseline, the vgg, then the resnet and its BN statistics, drawn in the
    same order), checked against manifest.json's resnet logits (≤ 1e-6), and exported in eval mode with
    TrainingMode.PRESERVE, which skips the exporter's Conv+BN fusion: BatchNormalization nodes with one output."""
    torch.manual_seed(SEED)
    x = torch.randn(2, 3, 32, 32)
    torch.randn(1, 3, 32, 32)
    Vgg()
    net = ResNet(bn=True)
    randomise_bn(net)
    net.eval()
    assert torch.equal(x, torch.from_numpy(np.load(os.path.join(OUT, 'x.npy'))))
    with torch.no_grad():
        err = float((net(x) - torch.tensor(base_manifest()['models']['resnet']['logits'])).abs().max())
    assert err <= 1e-6, err
    path = os.path.join(OUT, 'resnet-bn.onnx')
    torch.onnx.export(net, x, path, opset_version=13, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'n'}, 'logits': {0: 'n'}}, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    model = onnx.load(path)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count('BatchNormalization') == 6 and ops.count('Conv') == 6, ops
    assert all(len(n.output) == 1 for n in model.graph.node if n.op_type == 'BatchNormalization')
    return err


def build(name, mode='plain'):
    """The torch module of test/fixtures/baselines/<name>.onnx, eval mode, weights from the ONNX file."""
    model, inits = load_onnx(name)
    net = Vgg() if name == 'vgg' else ResNet(mode, bn=name == 'resnet-bn')
    modules = dict(net.named_modules())
    nodes = {n.name: n for n in model.graph.node}
    for node_name, path in NODE_MODULES[name].items():
        node = nodes[node_name]
        m = modules[path]
        w = inits[node.input[1]]
        b = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        assert m.weight.shape == w.shape and (b is None) == (m.bias is None), (node_name, m.weight.shape, w.shape)
        assert b is None or m.bias.shape == b.shape, node_name
        if node.op_type == 'Gemm':
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs.get('transB') == 1 and attrs.get('alpha', 1.0) == 1.0 and attrs.get('beta', 1.0) == 1.0
        with torch.no_grad():
            m.weight.copy_(w)
            if b is not None:
                m.bias.copy_(b)
    for node_name, path in BN_MODULES.get(name, {}).items():
        node = nodes[node_name]
        m = modules[path]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert len(node.output) == 1 and abs(attrs.get('epsilon', 1e-5) - m.eps) < 1e-12, node_name
        with torch.no_grad():
            for key, i in [('weight', 1), ('bias', 2), ('running_mean', 3), ('running_var', 4)]:
                getattr(m, key).copy_(inits[node.input[i]])
    assert len(NODE_MODULES[name]) == sum(1 for n in model.graph.node if n.op_type in ('Conv', 'Gemm')), name
    assert len(BN_MODULES.get(name, {})) == sum(1 for n in model.graph.node if n.op_type == 'BatchNormalization'), name
    net.eval()
    return net


def conv_nodes(name):
    """The ONNX Conv nodes in graph order: (node name, input tensor name, torch module path)."""
    model, _ = load_onnx(name)
    return [(n.name, n.input[0], NODE_MODULES[name][n.name]) for n in model.graph.node if n.op_type == 'Conv']


def base_manifest():
    with open(os.path.join(OUT, 'manifest.json')) as f:
        return json.load(f)


def inputs():
    """x (N×3×32×32), the targets, and the batch explained: x repeated per target, sample-major."""
    base = base_manifest()
    x = torch.from_numpy(np.load(os.path.join(OUT, base['input'])))
    targets = base['targets']
    n, t = x.shape[0], len(targets)
    xr = x.repeat_interleave(t, dim=0)
    tr = torch.tensor(targets * n, dtype=torch.long)
    return x, targets, xr, tr


def check_logits(name, net):
    """The rebuilt module against the ONNX model's logits recorded in manifest.json (computed by the
    exporting torch module, which the ONNX file was checked against at export). Returns the max abs error."""
    x, _, _, _ = inputs()
    ref = torch.tensor(base_manifest()['models'][base_of(name)]['logits'])
    with torch.no_grad():
        err = float((net(x) - ref).abs().max())
    assert err <= 1e-5, (name, err)
    return err


def check_onnx(name, net):
    """The rebuilt module against the ONNX graph itself, run by onnxruntime where it is importable
    (e.g. a venv with system site packages and onnxruntime from the local pip index), else by onnx's
    reference evaluator (onnx ≥ 1.13; Debian's 1.12 has none), else None. Returns (runner, max abs error)."""
    x, _, _, _ = inputs()
    path = os.path.join(OUT, f'{name}.onnx')
    try:
        import onnxruntime
        runner = f'onnxruntime {onnxruntime.__version__}'
        got = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, {'input': x.numpy()})[0]
    except ImportError:
        try:
            from onnx.reference import ReferenceEvaluator
        except ImportError:
            return None
        runner = f'onnx.reference {onnx.__version__}'
        got = ReferenceEvaluator(path).run(None, {'input': x.numpy()})[0]
    with torch.no_grad():
        err = float(np.abs(net(x).numpy() - got).max())
    assert err <= 1e-5, (name, err)
    return [runner, err]


def save(name, a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    assert np.isfinite(a).all(), name
    assert np.abs(a).max() > 0, name
    np.save(os.path.join(OUT, name), a)
    return list(a.shape)


def update_manifest(key, value):
    """references.json: one key per reference library, each script rewriting only its own."""
    data = {}
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            data = json.load(f)
    data['input'] = 'x.npy'
    data['targets'] = base_manifest()['targets']
    data['order'] = 'row n·T + j = input n, target j (sample-major)'
    data[key] = value
    with open(MANIFEST, 'w') as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write('\n')
