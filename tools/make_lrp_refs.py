#!/usr/bin/python3
"""Reference LRP attributions of aeq's `lrp` method (issue 11), computed with Zennit, for the two
baseline models of tools/make_baseline_refs.py (test/fixtures/baselines/{vgg,resnet}.onnx, x.npy,
targets [1, 4]).

Reference library: Zennit 0.5.1, commit 3121bb223061506834ca68abad3eefc792dea999 (the newest release
that runs on Debian's torch 1.13; Zennit 1.0.0 requires torch ≥ 2), unmodified, from its source tree:

    git --git-dir=<zennit mirror> archive 3121bb223061506834ca68abad3eefc792dea999 src/zennit | tar -x -C /tmp/refsrc/zennit
    cd tools && PYTHONPATH=/tmp/refsrc/zennit/src /usr/bin/python3 make_lrp_refs.py

(optional, for the check of the rebuilt modules against the ONNX graphs: a venv with system site
packages and onnxruntime from the local pip index, `/usr/bin/python3 -m venv --system-site-packages
/tmp/i11-venv && /tmp/i11-venv/bin/pip install onnxruntime`, then /tmp/i11-venv/bin/python instead;
the arrays were written that way, onnxruntime 1.30.0)

Developer-only: Debian's python3-torch and python3-onnx. The models are rebuilt from the ONNX files by
tools/refs_models.py (BN already folded into the convs there, so no canonizer is needed; the residual
Adds are `zennit.layer.Sum` modules, so that every composite's `(Sum, Norm)` entry applies; the logits
match manifest.json's within 1e-5, and, where onnxruntime is importable, the ONNX graph's run by it). The batch is x repeated per target, row n·T + j = input n, target j.

The calls, one batch of N·T rows per composite and model:

    attributor = zennit.attribution.Gradient(model, composite)
    output, relevance = attributor(xr, torch.eye(6)[targets])     # output relevance: one-hot 1.0

  epsilon-plus          EpsilonPlus()                                  (epsilon = stabilizer = 1e-6)
  epsilon-plus-flat     EpsilonPlusFlat()
  epsilon-gamma-box     EpsilonGammaBox(low=L, high=H, gamma=0.25)     L, H: N·T×3×32×32, row r filled with
                                                                       min / max of its input over C, H, W
  epsilon-alpha2-beta1  EpsilonAlpha2Beta1()

The third model, resnet-bn (the resnet with BatchNormalization unfolded, test/fixtures/baselines/resnet-bn.onnx,
written here by tools/refs_models.py `export_resnet_bn`), is explained with Zennit's BN-merge canonizer, the
BatchNorm half of its ResNetCanonizer, passed to every composite:

    EpsilonPlus(canonizers=[ExactMergeBatchNorm()])      (and so on for the four composites)

ExactMergeBatchNorm is 0.5.1's SequentialMergeBatchNorm with the one fix Zennit made to it right after 0.5.1
(commit c30e3cc, May 2023): the emptied BatchNorm's eps is set to 0, so that it is the identity (0.5.1 leaves
eps, and its emptied BN computes y/√(1+ε); see the class).

(ResNetCanonizer = SequentialMergeBatchNorm + the torchvision BasicBlock/Bottleneck canonizers, which swap
the blocks' `out += identity` for a `Sum` module; the rebuilt module has its Sum modules already, and the
script checks that ResNetCanonizer() gives the same arrays bit for bit.) Self-checks for resnet-bn: Zennit's
output logits under the canonizer equal the module's within 1e-5; the arrays equal the folded resnet's
(rel. L2 recorded, `rel_l2_vs_folded`); Zennit without a canonizer (its composites give BatchNorm the Pass
rule) is recorded too (`rel_l2_without_canonizer`), to show that the canonizer matters.

    cd tools && PYTHONPATH=/tmp/refsrc/zennit/src /usr/bin/python3 make_lrp_refs.py [model …]

Without arguments every model is (re)computed; with names only those, the others' entries in
references.json are kept.

Writes <model>.lrp-<composite>.npy ((N·T)×3×32×32 float32) and, in references.json under "lrp", per
model and composite the per-row relevance sums at the input of every Conv and Gemm node (keyed by ONNX
node name; each the relevance that node's rule sends to its input, before forks are summed), captured
by a forward pre-hook registered before Zennit's that hands the layer a clone of its input and records
the clone's gradient. Self-checks: the relevances are finite and not all zero; they equal baselines.md's formulas written out
layer by layer in plain torch (tools/lrp_formulas.py, no Zennit) within rel. L2 1e-5 (measured ≤ 1.5e-7); EpsilonPlus with
zero_params=['bias'] conserves the output relevance (1.0) at every Conv/Gemm input and at the model
input (|Σ − 1| ≤ 1e-3), which proves the bookkeeping.
"""
import json
import os
import sys

import numpy as np
import torch

import zennit
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat

import lrp_formulas
import refs_models as rm

ZENNIT_COMMIT = '3121bb223061506834ca68abad3eefc792dea999'
CLASSES = 6
# Besides every Conv and Gemm: the residual Adds (relevance at each operand, in ONNX operand order) and the
# GlobalAveragePool, whose relevance sums are recorded too.
MORE_NODES = {
    'vgg': {},
    'resnet': {'/layer1/Add': ('layer1.add', 2), '/layer2/Add': ('layer2.add', 2), '/pool/GlobalAveragePool': ('pool', 1)},
    'resnet-bn': {'/layer1/add/Add': ('layer1.add', 2), '/layer2/add/Add': ('layer2.add', 2), '/pool/GlobalAveragePool': ('pool', 1)},
}
MODELS = ['vgg', 'resnet', 'resnet-bn']


def bounds(xr):
    flat = xr.reshape(xr.shape[0], -1)
    low = flat.min(1).values[:, None, None, None].expand_as(xr).contiguous()
    high = flat.max(1).values[:, None, None, None].expand_as(xr).contiguous()
    return low, high


def composites(xr):
    """Each composite's constructor; `canonizers` (a list, or None) goes to the composite."""
    low, high = bounds(xr)
    return {
        'epsilon-plus': lambda c=None: EpsilonPlus(canonizers=c),
        'epsilon-plus-flat': lambda c=None: EpsilonPlusFlat(canonizers=c),
        'epsilon-gamma-box': lambda c=None: EpsilonGammaBox(low=low, high=high, gamma=0.25, canonizers=c),
        'epsilon-alpha2-beta1': lambda c=None: EpsilonAlpha2Beta1(canonizers=c),
    }


class ExactMergeBatchNorm(SequentialMergeBatchNorm):
    """0.5.1's SequentialMergeBatchNorm with Zennit's own later fix (commit c30e3cc, May 2023, in every release
    since): the emptied BatchNorm's eps is set to 0 too, so that it computes the identity. 0.5.1 leaves eps
    (1e-5), so its emptied BN computes y/√(1+ε), a 5e-6 change of every activation behind a merged BN, which
    the resnet's residual Adds whose two operands nearly cancel amplify to a few 1e-3 (recorded per composite,
    `rel_l2_vs_zennit_051_merge`). eps is restored on remove, with the other parameters."""
    def register(self, linears, batch_norm):
        self.eps = batch_norm.eps
        super().register(linears, batch_norm)
        batch_norm.eps = 0.0

    def remove(self):
        super().remove()
        self.batch_norm.eps = self.eps


def canonizers(name):
    """resnet-bn: Zennit's BN merge (ExactMergeBatchNorm); the folded models need none."""
    return [ExactMergeBatchNorm()] if name == 'resnet-bn' else None


def rel_l2(a, b):
    return float((a - b).double().norm() / b.double().norm())


def lrp(name, net, composite, xr, tr):
    """Zennit's relevance at the input, and per Conv/Gemm node the per-row relevance sum at its input."""
    modules = dict(net.named_modules())
    sums, handles = {}, []

    def capture(node, operands):
        def pre(module, inp):
            out = tuple(t.clone() for t in inp)
            for i, t in enumerate(out):
                def grad_hook(g, i=i):
                    s = g.detach().reshape(g.shape[0], -1).double().sum(1).tolist()
                    if operands == 1:
                        sums[node] = s
                    else:
                        sums.setdefault(node, [None] * operands)[i] = s
                if t.requires_grad:
                    t.register_hook(grad_hook)
            return out
        return pre

    for node, path in rm.NODE_MODULES[name].items():
        handles.append(modules[path].register_forward_pre_hook(capture(node, 1)))
    for node, (path, operands) in MORE_NODES[name].items():
        handles.append(modules[path].register_forward_pre_hook(capture(node, operands)))
    try:
        attributor = Gradient(net, composite)
        output, relevance = attributor(xr.clone().requires_grad_(True), torch.eye(CLASSES)[tr])
    finally:
        for h in handles:
            h.remove()
    return output.detach(), relevance.detach(), sums


# Cuts through each graph: groups of (node, operand) whose relevance sums together are all the relevance
# crossing that depth (operand None: a Conv/Gemm/pool input; 0/1: an Add operand).
CUTS = {
    'vgg': [[(n, None)] for n in rm.NODE_MODULES['vgg']],
    'resnet': [
        [('/fc/Gemm', None)], [('/pool/GlobalAveragePool', None)], [('/layer2/Add', 0), ('/layer2/Add', 1)],
        [('/layer2/conv2/Conv', None), ('/layer2/down/down.0/Conv', None)],
        [('/layer2/conv1/Conv', None), ('/layer2/down/down.0/Conv', None)],
        [('/layer1/Add', 0), ('/layer1/Add', 1)], [('/layer1/conv2/Conv', None), ('/layer1/Add', 1)],
        [('/layer1/conv1/Conv', None), ('/layer1/Add', 1)], [('/stem/stem.0/Conv', None)],
    ],
}


def close(a, b, tol):
    return max(abs(u - v) for u, v in zip(a, b)) <= tol


def conservation(name, net, xr, tr):
    """EpsilonPlus as written, and EpsilonPlus(zero_params=['bias']) (no bias absorbs relevance): the
    bookkeeping (sums at a layer's input equal the sums that reach it) and the conservation of 1.0."""
    for zero in [None, ['bias']]:
        _, rel, sums = lrp(name, net, EpsilonPlus(zero_params=zero), xr, tr)
        tot = rel.reshape(rel.shape[0], -1).double().sum(1).tolist()
        first = rm.conv_nodes(name)[0][0]
        assert close(tot, sums[first], 1e-5), (name, tot, sums[first])
        if name == 'resnet':
            # the fork at layer1's output: what layer2's conv1 and down send there passes ReLU (Pass) and
            # reaches layer1's Add, whose Norm splits it onto its two operands.
            fork = [a + b for a, b in zip(sums['/layer2/conv1/Conv'], sums['/layer2/down/down.0/Conv'])]
            assert close(fork, [a + b for a, b in zip(*sums['/layer1/Add'])], 1e-4), name
        if zero:
            # Without biases every rule conserves, except at units whose bias-free z vanishes (an all-zero
            # input window) while relevance reaches them, which the residual Adds' Norm (it splits by the
            # biased operand values) does: then only up to a few 1e-2 at the resnet's convs.
            tol = 1e-3 if name == 'vgg' else 5e-2
            assert close(tot, [1.0] * len(tot), tol), (name, tot)
            for cut in CUTS[name]:
                total = [sum(parts) for parts in zip(*[sums[n] if i is None else sums[n][i] for n, i in cut])]
                assert close(total, [1.0] * len(total), tol), (name, cut, total)
    return ('checked: sums at each layer input equal what reaches it (the resnet fork at layer1 output, first conv input = model input, ±1e-4); '
            'with zero_params=["bias"] every cut through the graph (a layer input; in the resnet the two branches together) sums to 1.0 '
            f'± {1e-3 if name == "vgg" else 5e-2} per row')


def resnet_bn_checks(net, comp, make, xr, tr, rel):
    """resnet-bn: the folded resnet explained now (same weights bit for bit) gives the same array; 0.5.1's
    unmodified SequentialMergeBatchNorm and ResNetCanonizer (= SequentialMergeBatchNorm here: the rebuilt module
    has its Sum modules already) give the same array as each other; those, the committed folded array and
    Zennit without a canonizer (its composites give BatchNorm the Pass rule) compared."""
    from zennit.torchvision import ResNetCanonizer
    _, as051, _ = lrp('resnet-bn', net, make([SequentialMergeBatchNorm()]), xr, tr)
    _, same, _ = lrp('resnet-bn', net, make([ResNetCanonizer()]), xr, tr)
    assert torch.equal(same, as051), comp
    _, bare, _ = lrp('resnet-bn', net, make(None), xr, tr)
    _, folded_now, _ = lrp('resnet', rm.build('resnet', mode='zennit'), make(None), xr, tr)
    folded = torch.from_numpy(np.load(os.path.join(rm.OUT, f'resnet.lrp-{comp}.npy')))
    return {'resnet_canonizer': 'ResNetCanonizer() gives what SequentialMergeBatchNorm() gives, bit for bit',
            'rel_l2_vs_folded_now': rel_l2(rel, folded_now), 'rel_l2_vs_folded_committed': rel_l2(rel, folded),
            'rel_l2_vs_zennit_051_merge': rel_l2(as051, rel), 'rel_l2_without_canonizer': rel_l2(bare, rel)}


def main():
    names = sys.argv[1:] or MODELS
    assert all(n in MODELS for n in names), names
    x, targets, xr, tr = rm.inputs()
    old = {}
    if os.path.exists(rm.MANIFEST):
        with open(rm.MANIFEST) as f:
            old = json.load(f).get('lrp', {}).get('models', {})
    ref = {'reference': f'Zennit {zennit.__version__ if hasattr(zennit, "__version__") else "0.5.1"}, commit {ZENNIT_COMMIT}',
           'torch': torch.__version__, 'output_relevance': 'one-hot 1.0 at the target', 'gamma': 0.25,
           'epsilon': 1e-6, 'stabilizer': 1e-6,
           'box': 'low/high = per input min/max over C,H,W',
           'canonizers': {'resnet-bn': 'ExactMergeBatchNorm() (0.5.1 SequentialMergeBatchNorm, emptied BN eps = 0 as in Zennit c30e3cc) passed to every composite (canonizers=[…])'},
           'models': {m: old[m] for m in MODELS if m in old and m not in names}}
    for name in names:
        if name == 'resnet-bn':
            rm.export_resnet_bn()
        net = rm.build(name, mode='zennit')
        err = rm.check_logits(name, net)
        entry = {'logits_max_abs_err': err, 'onnx_check': rm.check_onnx(name, net), 'conv_inputs': {n: t for n, t, _ in rm.conv_nodes(name)}, 'composites': {}}
        flat = xr.reshape(xr.shape[0], -1)
        entry['low'] = flat.min(1).values.tolist()
        entry['high'] = flat.max(1).values.tolist()
        for comp, make in composites(xr).items():
            out, rel, sums = lrp(name, net, make(canonizers(name)), xr, tr)
            with torch.no_grad():
                plain = net(xr)
            # the canonized forward (merged convs; 0.5.1 leaves each BN's eps, so y/√(1+ε) behind it) vs the module's
            assert torch.allclose(out, plain, atol=1e-6 if name != 'resnet-bn' else 1e-5), (name, comp, float((out - plain).abs().max()))
            shape = rm.save(f'{name}.lrp-{comp}.npy', rel.numpy())
            assert shape == [xr.shape[0], 3, 32, 32]
            entry['composites'][comp] = {'file': f'{name}.lrp-{comp}.npy'}
            if name == 'resnet-bn':
                entry['composites'][comp].update(resnet_bn_checks(net, comp, make, xr, tr, rel))
                entry['composites'][comp]['logits_max_abs_err_canonized'] = float((out - plain).abs().max())
            else:
                # Independent: baselines.md's formulas layer by layer (tools/lrp_formulas.py, no Zennit).
                with torch.no_grad():
                    spec = lrp_formulas.spec_lrp(name, rm.build(name), comp, xr, tr, *bounds(xr))
                spec_err = float((spec - rel).norm() / rel.norm())
                assert spec_err <= 1e-5, (name, comp, spec_err)
                entry['composites'][comp]['rel_l2_vs_baselines_md_formulas'] = spec_err
            entry['composites'][comp].update({
                'input_sum': rel.reshape(rel.shape[0], -1).double().sum(1).tolist(),
                'layer_input_sums': sums,
            })
            print(name, comp, {k: v for k, v in entry['composites'][comp].items() if k.startswith('rel_l2') or k.startswith('logits')})
            print('   input sums', entry['composites'][comp]['input_sum'])
        if name != 'resnet-bn':
            entry['conservation_check'] = conservation(name, net, xr, tr)
        ref['models'][name] = entry
    ref['models'] = {m: ref['models'][m] for m in MODELS if m in ref['models']}
    rm.update_manifest('lrp', ref)


if __name__ == '__main__':
    main()
