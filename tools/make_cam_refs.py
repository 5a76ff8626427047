#!/usr/bin/python3
"""Reference CAM attributions of aeq's `gradcam++`, `scorecam`, `layercam` and `fullgrad` (issue 11),
computed with pytorch-grad-cam, for the two baseline models of tools/make_baseline_refs.py
(test/fixtures/baselines/{vgg,resnet}.onnx, x.npy, targets [1, 4]).

Reference library: jacobgil/pytorch-grad-cam, commit 084273b3f30b54ad0c64cf8020a4337d979a66e0 (its
newest, 2026-06-14; it runs on Debian's torch 1.13), unmodified, from its source tree:

    git --git-dir=<pytorch-grad-cam mirror> archive 084273b3f30b54ad0c64cf8020a4337d979a66e0 pytorch_grad_cam | tar -x -C /tmp/refsrc/gradcam
    apt-get install python3-opencv python3-scipy python3-tqdm     # cv2.resize in FullGrad and scale_cam_image
    cd tools && PYTHONPATH=/tmp/refsrc/gradcam /usr/bin/python3 make_cam_refs.py

(optional, for the check of the rebuilt modules against the ONNX graphs: a venv with system site
packages and onnxruntime from the local pip index, `/usr/bin/python3 -m venv --system-site-packages
/tmp/i11-venv && /tmp/i11-venv/bin/pip install onnxruntime`, then /tmp/i11-venv/bin/python instead;
the arrays were written that way, onnxruntime 1.30.0)

Its imports of ttach (test-time augmentation, only for aug_smooth=True), matplotlib and scikit-learn
(plotting, KPCA-CAM) are not installed and unused on these paths: they are stubbed with MagicMock
before the import, as make_baseline_refs.py does for Captum's matplotlib. opencv is the real one
(Debian's python3-opencv 4.6).

The models are rebuilt from the ONNX files by tools/refs_models.py (BN folded into the convs, every
conv has a bias; logits equal manifest.json's within 1e-5, and the ONNX graph's as onnxruntime runs it where importable). The batch is x repeated per target,
row n·T + j = input n, target j, with targets [ClassifierOutputTarget(c) per row] (the logit).
The layer is aeq's default layer (src/planner/layers.ts defaultLayer; `aeq info` prints it):
vgg /features/features.9/Relu_output_0 (module features.9, 16×8×8), resnet
/layer2/relu2/Relu_output_0 (module layer2.relu2, 16×16×16). The calls:

    GradCAMPlusPlus(model, target_layers=[layer])(input_tensor=xr, targets=targets)
    ScoreCAM(model, target_layers=[layer])(input_tensor=xr, targets=targets)
    LayerCAM(model, target_layers=[layer])(input_tensor=xr, targets=targets)
    FullGrad(model, target_layers=[])(input_tensor=xr, targets=targets)

The library returns maps min-max normalised and resized to the input (scale_cam_image); aeq's spec
compares at layer resolution, so for gradcam++, scorecam and layercam this script records what the
library's own get_cam_weights / get_cam_image return during that call (instance methods wrapped, the
values passed on unchanged) and saves ReLU of get_cam_image's result, exactly what
BaseCAM.compute_cam_per_layer hands to scale_cam_image:

  <model>.gradcampp.npy, .scorecam.npy, .layercam.npy     (N·T)×h×w maps at layer resolution
  <model>.gradcampp-weights.npy, .scorecam-weights.npy    (N·T)×K channel weights w (get_cam_weights)
  <model>.scorecam-scores.npy                              (N·T)×K logits y_c(x ⊙ mask_k) ScoreCAM scored
  <model>.fullgrad.npy                                     (N·T)×32×32, the library's return value
  <model>.fullgrad-terms.npy                               (N·T)×(1+B)×32×32, the terms it sums: the
        input term Σ_c norm(|x·∂y/∂x|)_c, then one per conv with a bias (ONNX order, references.json),
        Σ_k resize(norm(|b_k·∂y/∂z_k|)); recomputed with the library's own helpers from its stored
        gradients and checked: scale_cam_image(Σ terms) equals the library's output (≤ 1e-6)
  <model>.cam-final.npy                                    (N·T)×3×32×32: the library's own return
        value for gradcam++, scorecam, layercam (that order on axis 1), normalised and resized

Self-checks: the maps equal an independent recomputation from torch autograd (the formulas of
references.json); FullGrad's stored gradients come in its bias layers' order; all arrays finite, not
all zero. references.json "cam" records the layer names, shapes and constants.
"""
import sys
from unittest import mock

for _name in ['ttach', 'matplotlib', 'matplotlib.pyplot', 'matplotlib.lines', 'matplotlib.patches', 'sklearn',
              'sklearn.decomposition']:
    sys.modules.setdefault(_name, mock.MagicMock())

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pytorch_grad_cam import FullGrad, GradCAMPlusPlus, LayerCAM, ScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.image import scale_accross_batch_and_channels, scale_cam_image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

import refs_models as rm  # noqa: E402

GRADCAM_COMMIT = '084273b3f30b54ad0c64cf8020a4337d979a66e0'
LAYERS = {
    'vgg': ('/features/features.9/Relu_output_0', 'features.9'),
    'resnet': ('/layer2/relu2/Relu_output_0', 'layer2.relu2'),
}


class RecordingTarget(ClassifierOutputTarget):
    """ClassifierOutputTarget (the logit) that records every value it returns (ScoreCAM's scores)."""
    def __init__(self, category, log):
        super().__init__(category)
        self.log = log

    def __call__(self, model_output):
        out = super().__call__(model_output)
        self.log.append(out.detach().clone())
        return out


def record(cam):
    """Wrap the instance's get_cam_weights / get_cam_image: the values pass through unchanged."""
    seen = {}
    if hasattr(cam, 'get_cam_weights'):
        orig_w = cam.get_cam_weights

        def weights(*a, **k):
            w = orig_w(*a, **k)
            seen['weights'] = np.array(w, copy=True)
            return w
        cam.get_cam_weights = weights
    orig_i = cam.get_cam_image

    def image(*a, **k):
        img = orig_i(*a, **k)
        seen['image'] = np.array(img, copy=True)
        return img
    cam.get_cam_image = image
    return seen


def layer_grad(net, module, xr, tr):
    """A and ∂y_c/∂A at the layer, from torch autograd (the independent check)."""
    store = {}
    h = module.register_forward_hook(lambda m, i, o: store.__setitem__('a', o))
    x = xr.clone().requires_grad_(True)
    y = net(x)
    h.remove()
    a = store['a']
    g, = torch.autograd.grad(y.gather(1, tr[:, None]).sum(), a)
    return a.detach().double(), g.double(), x, y


def independent(net, module, xr, tr):
    a, g, _, _ = layer_grad(net, module, xr, tr)
    g2, g3 = g ** 2, g ** 3
    aij = g2 / (2 * g2 + a.sum((2, 3), keepdim=True) * g3 + 1e-6)
    aij = torch.where(g != 0, aij, torch.zeros_like(aij))
    w_pp = (g.clamp(min=0) * aij).sum((2, 3))
    pp = (w_pp[:, :, None, None] * a).sum(1).clamp(min=0)
    lc = (g.clamp(min=0) * a).sum(1).clamp(min=0)
    # ScoreCAM: masks = A upsampled with align_corners=True, min-max per (row, channel), 1e-8.
    up = F.interpolate(a.float(), size=xr.shape[-2:], mode='bilinear', align_corners=True)
    lo = up.flatten(2).min(-1).values[:, :, None, None]
    hi = up.flatten(2).max(-1).values[:, :, None, None]
    masks = (up - lo) / (hi - lo + 1e-8)
    with torch.no_grad():
        scores = torch.stack([net(xr[r:r + 1] * masks[r][:, None])[:, tr[r]] for r in range(xr.shape[0])])
    w_sc = torch.softmax(scores.double(), -1)
    sc = (w_sc[:, :, None, None] * a).sum(1).clamp(min=0)
    return {'gradcampp': pp, 'gradcampp-weights': w_pp, 'layercam': lc, 'scorecam': sc, 'scorecam-weights': w_sc,
            'scorecam-scores': scores.double()}


def rel_l2(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def fullgrad(name, net, xr, tr):
    cam = FullGrad(net, target_layers=[])
    bias_layers = [m for m in cam.target_layers]
    paths = {id(m): p for p, m in net.named_modules()}
    nodes = {p: n for n, p in rm.NODE_MODULES[name].items()}
    order = [nodes[paths[id(m)]] for m in bias_layers]
    out = cam(input_tensor=xr, targets=[ClassifierOutputTarget(int(c)) for c in tr])
    grads = [g.numpy() for g in cam.activations_and_grads.gradients]
    # Independent: the gradient at each bias layer's output, in that order (FullGrad pairs them by list order).
    store = []
    hs = [m.register_forward_hook(lambda m, i, o: store.append(o)) for m in bias_layers]
    x = xr.clone().requires_grad_(True)
    y = net(x)
    for h in hs:
        h.remove()
    gs = torch.autograd.grad(y.gather(1, tr[:, None]).sum(), [x] + store)
    gx, gz = gs[0], gs[1:]
    for g_lib, g_ref in zip(grads, gz):
        assert g_lib.shape == g_ref.shape and np.allclose(g_lib, g_ref.numpy(), atol=1e-7, rtol=1e-5), name
    # The terms, with the library's own helpers, as FullGrad.compute_cam_per_layer builds them.
    size = (xr.shape[-1], xr.shape[-2])
    terms = [scale_accross_batch_and_channels(np.abs(gx.numpy() * xr.numpy()), size).sum(1)]
    for bias, g in zip(cam.bias_data, grads):
        terms.append(scale_accross_batch_and_channels(np.abs(bias[None, :, None, None] * g), size).sum(1))
    terms = np.stack(terms, 1)
    again = scale_cam_image(terms.sum(1))
    assert np.abs(again - out).max() <= 1e-6, (name, np.abs(again - out).max())
    biases = [cam.bias_data[i].tolist() for i in range(len(bias_layers))]
    return out, terms, order, biases


def main():
    x, targets, xr, tr = rm.inputs()
    ref = {
        'reference': f'pytorch-grad-cam, commit {GRADCAM_COMMIT}', 'torch': torch.__version__, 'opencv': cv2.__version__,
        'target': 'ClassifierOutputTarget(c): the logit', 'models': {},
        'conventions': {
            'gradcampp': {'a': 'g^2 / (2 g^2 + S_k g^3 + eps), S_k = sum_hw A_k (per row, channel); a = 0 where g == 0',
                          'eps': 1e-6, 'weights': 'w_k = sum_hw relu(g) a', 'map': 'relu(sum_k w_k A_k)'},
            'scorecam': {'upsample': 'torch.nn.UpsamplingBilinear2d(size=input HxW): bilinear, align_corners=True',
                         'mask': '(u - min) / (max - min + eps), min/max over the upsampled HxW per row and channel',
                         'mask_eps': 1e-8, 'masked_input': 'x * mask_k (all colour channels), no baseline',
                         'score': 'the target logit', 'weights': 'softmax over k (float32)',
                         'batching': 'row by row; each row\'s K masked copies in batches of 16 (BATCH_SIZE)',
                         'map': 'relu(sum_k w_k A_k)'},
            'layercam': {'map': 'relu(sum_k relu(g_k) A_k)'},
            'fullgrad': {
                'bias_layers': 'modules of type exactly Conv2d or BatchNorm2d with a bias (BN bias = beta - mean gamma / sqrt(var + eps)); Linear biases do not count',
                'input_term': 'sum_c norm(|x * dy/dx|)_c: each (row, colour channel) map min-max normalised separately',
                'bias_term': 'sum_k resize(norm(|b_k * dy/dz_k|)): each (row, channel) map min-max normalised at layer resolution, cv2.resize to input size (INTER_LINEAR = bilinear, align_corners=False), then summed over k',
                'result': 'norm(sum of all terms) per row',
                'norm': '(v - min) / (1e-7 + max(v - min))'},
            'scale_cam_image': 'per row (v - min) / (1e-7 + max(v - min)), then cv2.resize (bilinear, align_corners=False); not applied to the layer-resolution files',
        },
    }
    for name in ['vgg', 'resnet']:
        net = rm.build(name)
        err = rm.check_logits(name, net)
        tensor, path = LAYERS[name]
        module = dict(net.named_modules())[path]
        entry = {'logits_max_abs_err': err, 'onnx_check': rm.check_onnx(name, net), 'layer': tensor, 'layer_module': path}
        indep = independent(net, module, xr, tr)
        finals = []
        for method, cls in [('gradcampp', GradCAMPlusPlus), ('scorecam', ScoreCAM), ('layercam', LayerCAM)]:
            log = []
            cam = cls(net, target_layers=[module])
            seen = record(cam)
            tgts = [RecordingTarget(int(c), log) for c in tr]
            final = cam(input_tensor=xr, targets=tgts)
            finals.append(final)
            m = np.maximum(seen['image'], 0)
            entry[method] = {'file': f'{name}.{method}.npy', 'shape': rm.save(f'{name}.{method}.npy', m),
                             'rel_l2_vs_independent': rel_l2(m, indep[method])}
            assert entry[method]['rel_l2_vs_independent'] <= 1e-5, (name, method, entry[method])
            if method in ('gradcampp', 'scorecam'):
                w = seen['weights']
                entry[method]['weights'] = f'{name}.{method}-weights.npy'
                entry[method]['weights_shape'] = rm.save(f'{name}.{method}-weights.npy', w)
                entry[method]['weights_rel_l2_vs_independent'] = rel_l2(w, indep[f'{method}-weights'])
                assert entry[method]['weights_rel_l2_vs_independent'] <= 1e-5, (name, method)
            if method == 'scorecam':
                scores = torch.stack(log).reshape(xr.shape[0], -1).numpy()
                assert scores.shape == w.shape
                entry[method]['scores'] = f'{name}.scorecam-scores.npy'
                rm.save(f'{name}.scorecam-scores.npy', scores)
                assert rel_l2(scores, indep['scorecam-scores']) <= 1e-5
                assert np.allclose(torch.softmax(torch.from_numpy(scores).double(), -1).numpy(), w, atol=1e-6)
            print(name, method, entry[method])
        entry['cam_final'] = {'file': f'{name}.cam-final.npy', 'methods': ['gradcampp', 'scorecam', 'layercam'],
                              'shape': rm.save(f'{name}.cam-final.npy', np.stack(finals, 1))}
        out, terms, order, biases = fullgrad(name, net, xr, tr)
        entry['fullgrad'] = {
            'file': f'{name}.fullgrad.npy', 'shape': rm.save(f'{name}.fullgrad.npy', out),
            'terms': f'{name}.fullgrad-terms.npy', 'terms_shape': rm.save(f'{name}.fullgrad-terms.npy', terms),
            'terms_order': ['input'] + order,
        }
        print(name, 'fullgrad', entry['fullgrad'])
        ref['models'][name] = entry
    # cv2.resize (INTER_LINEAR) against torch's bilinear interpolation, align_corners=False, on the
    # layer sizes FullGrad resizes from.
    rng = np.random.default_rng(0)
    diffs = {}
    for s in [4, 8, 16, 32]:
        a = rng.random((s, s), dtype=np.float32)
        c = cv2.resize(a, (32, 32))
        t = F.interpolate(torch.from_numpy(a)[None, None], size=(32, 32), mode='bilinear', align_corners=False)[0, 0].numpy()
        diffs[f'{s}x{s}'] = float(np.abs(c - t).max())
    ref['cv2_resize_vs_torch_bilinear_align_corners_false_max_abs'] = diffs
    print('cv2 vs torch', diffs)
    rm.update_manifest('cam', ref)


if __name__ == '__main__':
    main()
