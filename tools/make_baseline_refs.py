#!/usr/bin/python3
"""Reference attributions of aeq's gradient family (issue 11), computed with Captum, for
test/baselines-gradient.test.ts.

Reference library: Captum v0.6.0, commit b398d52e20291dc940f60240a1ded549b32c9807 (the newest
release that runs on Debian's torch 1.13), from its source tree, not a package:

    git --git-dir=<captum mirror> archive b398d52e20291dc940f60240a1ded549b32c9807 captum | tar -x -C /tmp/captum-src
    PYTHONPATH=/tmp/captum-src /usr/bin/python3 tools/make_baseline_refs.py

Developer-only (never a runtime or CI dependency): Debian's python3-torch and python3-onnx.
Two small seeded models at 2×3×32×32, exported in eval mode (BatchNormalization folded by the
exporter's constant folding), opset 13, dynamic batch: `vgg` (Conv/ReLU/MaxPool/Linear) and
`resnet` (Conv/BN/ReLU, two basic blocks with residual Adds, one with a strided 1×1 projection,
GlobalAveragePool, Linear). One input batch x (2×3×32×32, seeded), targets [1, 4] for every input.

Writes test/fixtures/baselines/: <model>.onnx, x.npy, and per model and method
<model>.<method>.npy, float32 arrays of shape (N·T)×3×32×32 ordered sample-major ((n·T + j) =
input n, target j), plus manifest.json. The methods and Captum's calls:

  gradient          Saliency(model).attribute(x, target, abs=False)
  input-x-gradient  InputXGradient(model).attribute(x, target)
  ig                IntegratedGradients(model).attribute(x, baselines=0, target, n_steps=16,
                    method='riemann_right'); ig-s8-baseline with baselines=b (baseline.npy), n_steps=8
  smoothgrad        NoiseTunnel(Saliency(model)).attribute(x, nt_type='smoothgrad', nt_samples=16,
                    target, abs=False) and smoothgrad-sq (nt_type='smoothgrad_sq'), seed 7,
                    σ = 0.15·(max x_n − min x_n) per input
  guided-bp         GuidedBackprop(model).attribute(x, target)

SmoothGrad's noise: Captum draws it with torch.normal; to compare exactly, this script draws it
with aeq's own generator (src/explain/gradients.ts `gaussians`: mulberry32 + Box–Muller,
re-implemented here bit for bit; S·3·32·32 draws z_s shared by every input, ε = σ_n·z_s), hands it to NoiseTunnel by replacing torch.normal for the call,
and also saves the first NOISE_PREFIX values of each input's noise (smoothgrad-noise.npy, N×NOISE_PREFIX,
of the N·S×3×32×32 ε in Captum's repeat_interleave order, which is aeq's order too; the manifest has the float64 sum
and sum of squares of all of it) so that the test checks aeq's noise against it. A self-check
recomputes SmoothGrad as the mean of Saliency over x_n + ε, to prove the noise reached Captum.
"""
import json
import math
import os
import sys
import types
from unittest import mock

import numpy as np
import torch
import torch.nn as nn

# captum.attr imports its visualisation helpers, which import matplotlib (not installed, unused).
for name in ['matplotlib', 'matplotlib.pyplot', 'matplotlib.colors', 'matplotlib.cm', 'matplotlib.figure',
             'matplotlib.axis', 'matplotlib.collections', 'matplotlib.patches', 'mpl_toolkits', 'mpl_toolkits.axes_grid1']:
    sys.modules.setdefault(name, mock.MagicMock())

import captum  # noqa: E402
from captum.attr import GuidedBackprop, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency  # noqa: E402
from refs_models import randomise_bn  # noqa: E402  (shared with the LRP/CAM/EB reference scripts)

CAPTUM_COMMIT = 'b398d52e20291dc940f60240a1ded549b32c9807'
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'baselines')
SEED = 20261111
TARGETS = [1, 4]
CLASSES = 6
STEPS = 16
SAMPLES = 16
NOISE_SEED = 7
NOISE_PREFIX = 2048


class Vgg(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, CLASSES))

    def forward(self, x):
        return self.classifier(self.features(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layer2(self.layer1(self.stem(x)))), 1))


# ------------------------------------------------------------------ aeq's noise generator, bit for bit

def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296
    return nxt


def gaussians(seed, count):
    r = mulberry32(seed)
    out = np.zeros(count, dtype=np.float64)
    for i in range(0, count, 2):
        u1 = 1 - r()
        u2 = r()
        rad = math.sqrt(-2 * math.log(u1))
        out[i] = rad * math.cos(2 * math.pi * u2)
        if i + 1 < count:
            out[i + 1] = rad * math.sin(2 * math.pi * u2)
    return out


def smoothgrad_noise(x, samples, seed):
    n = x.shape[0]
    per = x[0].numel()
    z = gaussians(seed, samples * per).reshape(samples, per)  # the same draws for every input
    eps = np.zeros((n, samples, per), dtype=np.float32)
    for s in range(n):
        xs = x[s].numpy().astype(np.float32)
        sd = 0.15 * (float(xs.max()) - float(xs.min()))
        eps[s] = (sd * z).astype(np.float32)
    return torch.from_numpy(eps.reshape(n * samples, *x.shape[1:]))


# ------------------------------------------------------------------ references

def per_target(fn, x):
    """Attributions for every target, ordered (n·T + j)."""
    outs = [fn(torch.full((x.shape[0],), c, dtype=torch.long)).detach() for c in TARGETS]
    return torch.stack(outs, 1).reshape(x.shape[0] * len(TARGETS), *x.shape[1:])


def smoothgrad(model, x, noise, nt_type):
    def attribute(target):
        with mock.patch('torch.normal', lambda mean, std: noise.clone()):
            return NoiseTunnel(Saliency(model)).attribute(
                x, nt_type=nt_type, nt_samples=SAMPLES, stdevs=1.0, target=target, abs=False)
    return per_target(attribute, x)


def references(model, x, baseline, noise):
    ig = IntegratedGradients(model)
    return {
        'gradient': per_target(lambda t: Saliency(model).attribute(x, target=t, abs=False), x),
        'input-x-gradient': per_target(lambda t: InputXGradient(model).attribute(x, target=t), x),
        'ig': per_target(lambda t: ig.attribute(x, baselines=0.0, target=t, n_steps=STEPS, method='riemann_right'), x),
        'ig-s8-baseline': per_target(lambda t: ig.attribute(x, baselines=baseline, target=t, n_steps=8, method='riemann_right'), x),
        'smoothgrad': smoothgrad(model, x, noise, 'smoothgrad'),
        'smoothgrad-sq': smoothgrad(model, x, noise, 'smoothgrad_sq'),
        'guided-bp': per_target(lambda t: GuidedBackprop(model).attribute(x, target=t), x),
    }


def save(name, t):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    x = torch.randn(2, 3, 32, 32)
    baseline = 0.25 * torch.randn(1, 3, 32, 32)
    noise = smoothgrad_noise(x, SAMPLES, NOISE_SEED)
    save('x.npy', x)
    save('baseline.npy', baseline[0])
    save('smoothgrad-noise.npy', noise.reshape(x.shape[0], -1)[:, :NOISE_PREFIX])
    manifest = {
        'reference': f'Captum {captum.__version__}, commit {CAPTUM_COMMIT}', 'torch': torch.__version__,
        'input': 'x.npy', 'shape': list(x.shape), 'targets': TARGETS, 'classes': CLASSES,
        'steps': STEPS, 'samples': SAMPLES, 'noise_seed': NOISE_SEED,
        'noise_sum': float(noise.double().sum()), 'noise_sumsq': float((noise.double() ** 2).sum()), 'noise': '0.15·(max x_n − min x_n) per input',
        'ig-s8-baseline': {'steps': 8, 'baseline': 'baseline.npy'},
        'models': {},
    }
    for name, cls in [('vgg', Vgg), ('resnet', ResNet)]:
        model = cls()
        randomise_bn(model)
        model.eval()
        path = os.path.join(OUT, f'{name}.onnx')
        torch.onnx.export(model, x, path, opset_version=13, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'n'}, 'logits': {0: 'n'}}, do_constant_folding=True)
        refs = references(model, x, baseline, noise)
        with torch.no_grad():
            logits = model(x)
        manifest['models'][name] = {
            'onnx_bytes': os.path.getsize(path),
            'logits': logits.tolist(),
            'methods': sorted(refs),
        }
        # Self-check: Captum's SmoothGrad used the noise given (mean of the gradients at x_n + ε).
        xs = x.repeat_interleave(SAMPLES, dim=0) + noise
        for j, c in enumerate(TARGETS):
            g = Saliency(model).attribute(xs, target=c, abs=False).reshape(x.shape[0], SAMPLES, *x.shape[1:]).mean(1)
            assert torch.allclose(g, refs['smoothgrad'].reshape(x.shape[0], len(TARGETS), *x.shape[1:])[:, j], rtol=1e-4, atol=1e-6), name
        for m, a in refs.items():
            assert a.shape == (x.shape[0] * len(TARGETS), *x.shape[1:]), (m, a.shape)
            save(f'{name}.{m}.npy', a)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write('\n')


if __name__ == '__main__':
    main()
