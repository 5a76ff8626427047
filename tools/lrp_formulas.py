#!/usr/bin/python3
"""baselines.md's LRP rules written out layer by layer, for tools/make_lrp_refs.py's independent check
of Zennit's arrays (issue 11): plain torch ops, no Zennit. Transposed convolutions are
torch.nn.grad.conv2d_input; max-pool and Flatten take their gradients; ReLU passes relevance through;
residual Adds and the GlobalAveragePool use Norm; Gemm uses Epsilon; convs per composite (RULES: the
first conv's rule, the others'). `stab(z) = z + 1e-6·sign(z)`, sign(0) = +1."""
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input

EPS = 1e-6


def stab(z):
    return z + EPS * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def pos(t):
    return t.clamp(min=0)


def neg(t):
    return t.clamp(max=0)


def conv_rule(rule, m, x, R, low=None, high=None, gamma=0.25):
    kw = dict(stride=m.stride, padding=m.padding)
    W, b = m.weight, m.bias
    cv = lambda inp, w, bb=None: F.conv2d(inp, w, bb, **kw)
    cT = lambda s, w: conv2d_input(x.shape, w, s, **kw)
    if rule == 'zplus':
        z = cv(pos(x), pos(W), pos(b)) + cv(neg(x), neg(W))
        s = R / stab(z)
        return pos(x) * cT(s, pos(W)) + neg(x) * cT(s, neg(W))
    if rule == 'flat':
        ones = torch.ones_like(W)
        z = cv(torch.ones_like(x), ones)
        return cT(R / stab(z), ones)
    if rule == 'alpha2beta1':
        p = cv(pos(x), pos(W), pos(b)) + cv(neg(x), neg(W))
        n = cv(pos(x), neg(W), neg(b)) + cv(neg(x), pos(W))
        sp, sn = R / stab(p), R / stab(n)
        return 2 * (pos(x) * cT(sp, pos(W)) + neg(x) * cT(sp, neg(W))) - (pos(x) * cT(sn, neg(W)) + neg(x) * cT(sn, pos(W)))
    if rule == 'gamma':
        Wp, Wn = W + gamma * pos(W), W + gamma * neg(W)
        z = cv(x, W, b)
        A = cv(pos(x), Wp, b + gamma * pos(b)) + cv(neg(x), Wn)
        B = cv(pos(x), Wn, b + gamma * neg(b)) + cv(neg(x), Wp)
        sA = (z > 0).float() * R / stab(A)
        sB = (z < 0).float() * R / stab(B)
        return pos(x) * cT(sA, Wp) + neg(x) * cT(sA, Wn) + pos(x) * cT(sB, Wn) + neg(x) * cT(sB, Wp)
    if rule == 'zbox':
        z = cv(x, W, b) - cv(low, pos(W), pos(b)) - cv(high, neg(W), neg(b))
        s = R / stab(z)
        return x * cT(s, W) - low * cT(s, pos(W)) - high * cT(s, neg(W))
    raise ValueError(rule)


def linear_eps(m, x, R):
    z = F.linear(x, m.weight, m.bias)
    return x * ((R / stab(z)) @ m.weight)


def grad_through(f, x, R):
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        g, = torch.autograd.grad(f(xx), xx, R)
    return g


RULES = {'epsilon-plus': ('zplus', 'zplus'), 'epsilon-plus-flat': ('flat', 'zplus'),
         'epsilon-gamma-box': ('zbox', 'gamma'), 'epsilon-alpha2-beta1': ('alpha2beta1', 'alpha2beta1')}


def spec_lrp(name, net, comp, xr, tr, low, high):
    """Relevance at the input of refs_models' vgg or resnet (plain Add), one-hot 1.0 at tr per row."""
    first, rest = RULES[comp]
    state = {'first': True}

    def conv(m, x, R):
        rule = first if state['first'] else rest
        state['first'] = False
        return conv_rule(rule, m, x, R, low, high)

    R0 = torch.eye(6)[tr]
    if name == 'vgg':
        layers = list(net.features) + list(net.classifier)
        acts = [xr]
        for m in layers:
            acts.append(m(acts[-1]).detach())
        R = R0
        # walk backwards; the first conv is layers[0], reached last: mark by index
        for i in range(len(layers) - 1, -1, -1):
            m, x = layers[i], acts[i]
            state['first'] = i == 0
            if isinstance(m, torch.nn.Conv2d):
                R = conv(m, x, R)
            elif isinstance(m, torch.nn.Linear):
                R = linear_eps(m, x, R)
            elif isinstance(m, torch.nn.ReLU):
                pass
            else:  # MaxPool2d, Flatten: the gradient
                R = grad_through(m, x, R)
        return R.detach()
    # resnet
    a0 = xr
    s = net.stem[0](a0); a1 = net.stem[1](s)
    def block_fwd(blk, x):
        c1 = blk.conv1(x); r1 = blk.relu1(c1); c2 = blk.conv2(r1)
        skip = x if blk.down is None else blk.down(x)
        return dict(x=x, r1=r1, c2=c2, skip=skip, out=blk.relu2(c2 + skip))
    f1 = block_fwd(net.layer1, a1); f2 = block_fwd(net.layer2, f1['out'])
    g = f2['out']; pooled = net.pool(g); flat = net.flatten(pooled)
    R = linear_eps(net.fc, flat, R0)
    R = R.reshape(pooled.shape)
    R = g * (R / stab(pooled)) / (g.shape[2] * g.shape[3])
    state['first'] = False
    def block_back(blk, f, R):
        z = f['c2'] + f['skip']
        Rc2, Rskip = f['c2'] * R / stab(z), f['skip'] * R / stab(z)
        Rr1 = conv(blk.conv2, f['r1'], Rc2)
        Rx = conv(blk.conv1, f['x'], Rr1)
        Rx = Rx + (Rskip if blk.down is None else conv(blk.down, f['x'], Rskip))
        return Rx
    R = block_back(net.layer2, f2, R)
    R = block_back(net.layer1, f1, R)
    state['first'] = True
    return conv(net.stem[0], a0, R).detach()
