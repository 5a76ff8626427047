#!/usr/bin/python3
"""Reference excitation-backprop maps of aeq's `eb` and `ceb` (issue 11), computed with TorchRay, for
the two baseline models of tools/make_baseline_refs.py (test/fixtures/baselines/{vgg,resnet}.onnx,
x.npy, targets [1, 4]).

Reference library: facebookresearch/TorchRay v1.0.0, commit 6a198ee61d229360a3def590410378d2ed6f1f06
(its only release; it runs on Debian's torch 1.13), unmodified, from its source tree:

    git --git-dir=<TorchRay mirror> archive 6a198ee61d229360a3def590410378d2ed6f1f06 \\
        torchray/__init__.py torchray/VERSION torchray/utils.py torchray/attribution | tar -x -C /tmp/refsrc/torchray
    apt-get install python3-packaging                 # torchray.attribution.common imports it
    cd tools && PYTHONPATH=/tmp/refsrc/torchray /usr/bin/python3 make_eb_refs.py

(optionally /tmp/i11-venv/bin/python, the venv of make_lrp_refs.py, for the onnxruntime check).
torchray.utils imports matplotlib (plotting only, not installed, unused here): stubbed with MagicMock.

The models are rebuilt from the ONNX files by tools/refs_models.py (BN folded into the convs; logits
equal manifest.json's within 1e-5); the resnet's residual Adds are TorchRay's own `EltwiseSum`
modules (what its update_resnet puts into torchvision ResNets), so that its EBP rule for them applies.
The batch is x repeated per target, row n·T + j = input n, target j; `target` is the tensor of the
rows' classes (TorchRay's get_backward_gradient makes the one-hot 1.0 per row). The calls:

  vgg (baselines.md "Defaults on VGG-style nets", as TorchRay's attribution_benchmark.py for VGG16:
  saliency layer pool4 = the max-pool feeding the last conv block, contrast layer relu7 = the ReLU
  feeding the last Linear):
    excitation_backprop(model, xr, target, saliency_layer='features.7')
    contrastive_excitation_backprop(model, xr, target, saliency_layer='features.7',
                                    contrast_layer='classifier.2', classifier_layer='classifier.3')
  resnet (as the benchmark for ResNet50: saliency layer = the input of the last stage, 'layer3' there,
  here 'layer1' = the output of the first block; contrast layer = the pooling before fc, 'avgpool'
  there, here 'pool' = the GlobalAveragePool):
    excitation_backprop(model, xr, target, saliency_layer='layer1')
    contrastive_excitation_backprop(model, xr, target, saliency_layer='layer1', contrast_layer='pool',
                                    classifier_layer='fc')

resize=False (the default): maps at layer resolution. Writes, per model:
  <model>.eb.npy, <model>.ceb.npy        (N·T)×h×w: TorchRay's N×1×h×w maps, the channel axis dropped
  vgg.eb-signal.npy                      (N·T)×C×h×w: the EB signal at L whose channel sum is eb
                                         (same call with gradient_to_saliency returning x.grad)
  vgg.ceb-signal.npy                     (N·T)×C×h×w: the CEB signal at L (debug probe), ceb = ReLU(Σ_c)
                                         (vgg only: the resnet's are 8×32×32 per row, left out)
  <model>.ceb-contrast.npy               (N·T)×… : pass 1's contrast signal at K (EB with the
                                         classifier's weights negated, saliency_layer = K)
Self-checks: maps = channel sums of the signals; on vgg, an independent layer-by-layer implementation
of the formulas (REFERENCES.md) equals TorchRay's eb and ceb; everything finite and not all zero.
"""
import copy
import sys
from unittest import mock

for _name in ['matplotlib', 'matplotlib.pyplot']:
    sys.modules.setdefault(_name, mock.MagicMock())

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torchray.attribution.excitation_backprop import contrastive_excitation_backprop, excitation_backprop  # noqa: E402

import refs_models as rm  # noqa: E402

TORCHRAY_COMMIT = '6a198ee61d229360a3def590410378d2ed6f1f06'
LAYERS = {
    # module path → ONNX tensor name (the module's output)
    'vgg': {'saliency': ('features.7', '/features/features.7/MaxPool_output_0'),
            'contrast': ('classifier.2', '/classifier/classifier.2/Relu_output_0'),
            'classifier': ('classifier.3', '/classifier/classifier.3/Gemm')},
    'resnet': {'saliency': ('layer1', '/layer1/relu2/Relu_output_0'),
               'contrast': ('pool', '/pool/GlobalAveragePool_output_0'),
               'classifier': ('fc', '/fc/Gemm')},
}


def ebp_linear(x, p, weight, conv_kwargs=None):
    """p_in = x ⊙ W⁺ᵀ(p / (x∗W⁺ + 1e-20)), no bias, for a conv (conv_kwargs) or a linear layer."""
    x = x.detach().requires_grad_(True)
    wp = weight.clamp(min=0)
    z = F.conv2d(x, wp, None, **conv_kwargs) if conv_kwargs is not None else F.linear(x, wp)
    g, = torch.autograd.grad(z, x, p / (z + 1e-20))
    return x.detach() * g


def vgg_independent(net, xr, tr, contrast=None, negate=False, stop_at_contrast=False):
    """EB on the sequential vgg by hand: Conv/Linear by ebp_linear, ReLU and max-pool by their gradients."""
    layers = list(net.features) + list(net.classifier)
    names = [f'features.{i}' for i in range(len(net.features))] + [f'classifier.{i}' for i in range(len(net.classifier))]
    acts = [xr]
    with torch.no_grad():
        for m in layers:
            acts.append(m(acts[-1]))
    p = torch.zeros_like(acts[-1]).scatter_(1, tr[:, None], 1.0)
    for i in range(len(layers) - 1, -1, -1):
        m, x = layers[i], acts[i]
        if names[i] == 'features.7':
            return p                              # the signal at L = the output of features.7
        if isinstance(m, torch.nn.Conv2d):
            p = ebp_linear(x, p, m.weight, dict(stride=m.stride, padding=m.padding))
        elif isinstance(m, torch.nn.Linear):
            p = ebp_linear(x, p, -m.weight if (negate and names[i] == 'classifier.3') else m.weight)
        else:                                     # ReLU, MaxPool2d, Flatten: the gradient
            xx = x.detach().requires_grad_(True)
            p, = torch.autograd.grad(m(xx), xx, p)
        if names[i - 1] == 'classifier.2':        # p is now the signal at K (the output of classifier.2)
            if stop_at_contrast:
                return p
            if contrast is not None:
                p = p - contrast
    raise AssertionError('no saliency layer')


def rel_l2(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    x, targets, xr, tr = rm.inputs()
    ref = {'reference': f'TorchRay v1.0.0, commit {TORCHRAY_COMMIT}', 'torch': torch.__version__,
           'output_gradient': 'one-hot 1.0 at the target (get_backward_gradient)', 'models': {},
           'conventions': {
               'conv_linear': 'p_in = x * W+^T (p / (x conv W+ + 1e-20)), no bias',
               'avg_pool': 'p_in = x * pool^T (p / (pool(x) + 1e-20))',
               'eltwise_sum': 'p_i = x_i / (x_1 + x_2) * p, no stabiliser',
               'gradient': 'ReLU, max-pool, flatten (not patched)',
               'eb_map': 'sum over channels of p at the saliency layer output, signed',
               'ceb': 'pass 1: EB with the classifier weight negated, contrast = p at the contrast layer output; pass 2: EB with p - contrast there (no clamp); map = max(sum_c p_L, 0)',
               'resize': False}}
    for name in ['vgg', 'resnet']:
        net = rm.build(name, mode='torchray')
        err = rm.check_logits(name, net)
        entry = {'logits_max_abs_err': err, 'onnx_check': rm.check_onnx(name, net)}
        L, K, C = (LAYERS[name][k] for k in ('saliency', 'contrast', 'classifier'))
        entry.update({'saliency_layer': L[1], 'saliency_module': L[0], 'contrast_layer': K[1], 'contrast_module': K[0],
                      'classifier_layer': C[1], 'classifier_module': C[0]})
        eb = excitation_backprop(net, xr, tr, saliency_layer=L[0])
        eb_signal = excitation_backprop(net, xr, tr, saliency_layer=L[0],
                                        gradient_to_saliency=lambda t: t.grad.detach().clone())
        assert torch.allclose(eb, eb_signal.sum(1, keepdim=True), atol=1e-6 * float(eb.abs().max()))
        ceb = contrastive_excitation_backprop(net, xr, tr, saliency_layer=L[0], contrast_layer=K[0],
                                              classifier_layer=C[0])
        ceb_again, probes = contrastive_excitation_backprop(net, xr, tr, saliency_layer=L[0], contrast_layer=K[0],
                                                            classifier_layer=C[0], debug=True)
        ceb_signal = probes[L[0]].data[0].grad.detach().clone()
        for p in probes.values():
            p.remove()
        assert torch.equal(ceb, ceb_again)
        assert torch.allclose(ceb, ceb_signal.sum(1, keepdim=True).clamp(min=0), atol=1e-6 * float(ceb.abs().max()))
        # Pass 1's contrast: EB with the classifier's weights negated, read at K.
        neg = copy.deepcopy(net)
        with torch.no_grad():
            dict(neg.named_modules())[C[0]].weight.neg_()
        contrast = excitation_backprop(neg, xr, tr, saliency_layer=K[0],
                                       gradient_to_saliency=lambda t: t.grad.detach().clone())
        saved = [('eb', eb[:, 0]), ('ceb', ceb[:, 0]), ('ceb-contrast', contrast)]
        if name == 'vgg':  # the resnet's signals (8×32×32 per row) are left out to keep the fixtures small
            saved += [('eb-signal', eb_signal), ('ceb-signal', ceb_signal)]
        for key, a in saved:
            entry[key] = {'file': f'{name}.{key}.npy', 'shape': rm.save(f'{name}.{key}.npy', a.numpy())}
        entry['ceb_negative_fraction_before_relu'] = float((ceb_signal.sum(1) < 0).double().mean())
        if name == 'vgg':
            ind_eb = vgg_independent(net, xr, tr).sum(1)
            ind_contrast = vgg_independent(net, xr, tr, negate=True, stop_at_contrast=True)
            ind_ceb = vgg_independent(net, xr, tr, contrast=ind_contrast).sum(1).clamp(min=0)
            entry['independent_rel_l2'] = {'eb': rel_l2(eb[:, 0], ind_eb), 'ceb': rel_l2(ceb[:, 0], ind_ceb),
                                           'contrast': rel_l2(contrast, ind_contrast)}
            assert max(entry['independent_rel_l2'].values()) <= 1e-5, entry['independent_rel_l2']
        print(name, entry)
        ref['models'][name] = entry
    rm.update_manifest('eb', ref)


if __name__ == '__main__':
    main()
