"""Batched training of 256 students vs a Python loop over 256 nn.Sequential models with torch.optim.SGD.

Problem (issue 2): d=4, width 8, one output, N=512, 2000 full-batch GD steps, float64, mse, relu.
Both sides run in this process with the same dtype and torch thread count. The loop is timed on a fixed
subset of the models (``N_LOOP``, all 2000 steps each) and scaled to 256; the printed name says so.
"""
import os

import torch

from _device import DEVICE, clock
from overparam.mlp import forward, init_mlp
from overparam.rng import generator
from overparam.train import GD, train

S, D, H, N, STEPS, LR = 256, 4, 8, 512, 2000, 0.05
N_LOOP = int(os.environ.get("BENCH_TRAIN_LOOP_MODELS", "32"))


def _problem():
    x = torch.randn(N, D, generator=generator(0, "data"), dtype=torch.float64).to(DEVICE)
    teacher = init_mlp((D, 4, 1), 1, 1, activation="relu", device=DEVICE)
    y = forward(teacher, x)[0].detach()
    return x, y, init_mlp((D, H, 1), S, 0, activation="relu", device=DEVICE)


def _loop(net, x, y, n_models):
    models = []
    for s in range(n_models):
        m = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, 1)).double().to(DEVICE)
        with torch.no_grad():
            for lin, w, b in zip((m[0], m[2]), net.weights, net.biases):
                lin.weight.copy_(w[s])
                lin.bias.copy_(b[s])
        models.append(m)
    t0 = clock()
    for m in models:
        opt = torch.optim.SGD(m.parameters(), lr=LR)
        for _ in range(STEPS):
            opt.zero_grad()
            loss = 0.5 * ((m(x) - y) ** 2).sum(dim=1).mean()
            loss.backward()
            opt.step()
    return clock() - t0, models


def main():
    x, y, net = _problem()
    train(net, x, y, optimizer=GD(LR), n_steps=20)                  # warm-up
    t0 = clock()
    res = train(net, x, y, optimizer=GD(LR), n_steps=STEPS)
    t_batched = clock() - t0
    t_sub, models = _loop(net, x, y, N_LOOP)
    t_loop = t_sub * S / N_LOOP
    # sanity: the two agree on the models that were run
    err = max(float((models[s][0].weight.detach() - res.net.weights[0][s]).abs().max()) for s in range(N_LOOP))
    assert err < 1e-8, f"batched and loop training disagree by {err:g}"
    tag = f"loop_{N_LOOP}_of_{S}_scaled"
    print(f"train_device: {DEVICE}")
    print(f"train_threads: {torch.get_num_threads()}")
    print(f"train_load_avg_1min: {os.getloadavg()[0]:.2f}")
    print(f"train_batched_s: {t_batched:.3f}")
    print(f"train_{tag}_s: {t_loop:.3f}")
    print(f"train_batched_vs_{tag}_speedup: {t_loop / t_batched:.1f}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
