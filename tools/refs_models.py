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
    def __init__(self, cin, cout, stride, mode):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.down = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        self.add = Add(mode)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.conv2(self.relu1(self.conv1(x)))
        return self.relu2(self.add(y, x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """The folded resnet: stem conv (+bias) → ReLU → two basic blocks → GAP → Flatten → fc."""
    def __init__(self, mode='plain', classes=6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU())
        self.layer1 = Block(8, 8, 1, mode)
        self.layer2 = Block(8, 16, 2, mode)
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
}


def build(name, mode='plain'):
    """The torch module of test/fixtures/baselines/<name>.onnx, eval mode, weights from the ONNX file."""
    model, inits = load_onnx(name)
    net = Vgg() if name == 'vgg' else ResNet(mode)
    modules = dict(net.named_modules())
    nodes = {n.name: n for n in model.graph.node}
    for node_name, path in NODE_MODULES[name].items():
        node = nodes[node_name]
        m = modules[path]
        w, b = inits[node.input[1]], inits[node.input[2]]
        assert m.weight.shape == w.shape and m.bias.shape == b.shape, (node_name, m.weight.shape, w.shape)
        if node.op_type == 'Gemm':
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs.get('transB') == 1 and attrs.get('alpha', 1.0) == 1.0 and attrs.get('beta', 1.0) == 1.0
        with torch.no_grad():
            m.weight.copy_(w)
            m.bias.copy_(b)
    assert sum(len(v) for v in NODE_MODULES.values()) and len(NODE_MODULES[name]) == sum(
        1 for n in model.graph.node if n.op_type in ('Conv', 'Gemm')), name
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
    ref = torch.tensor(base_manifest()['models'][name]['logits'])
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
