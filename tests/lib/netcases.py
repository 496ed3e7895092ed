"""Small networks and modules shared by several library test files (imported as a plain module)."""
import torch

from overparam import hessian as hs
from overparam import mlp
from overparam.rng import generator


class FnModule(torch.nn.Module):
    """An elementwise function as an nn.Module, for nn.Sequential references."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, z):
        return self.f(z)


def trained_g_network():
    """A 2-2-1 network (activation g), 2 seeds, fitted by 500 gradient steps to a noisy width-3 teacher:
    near a strict minimum (measured: Newton converges in < 30 steps, smallest eigenvalue ~2e-3)."""
    g = generator(0, "data")
    x = torch.randn(50, 2, generator=g, dtype=torch.float64)
    teacher = mlp.init_mlp((2, 3, 1), 1, 9, activation="g", init="normal", std=1.0)
    y = mlp.forward(teacher, x)[0] + 0.3 * torch.randn(50, 1, generator=g, dtype=torch.float64)
    net = mlp.init_mlp((2, 2, 1), 2, 0, activation="g")
    theta = mlp.flatten(net)
    for _ in range(500):
        theta = theta - 0.3 * hs.gradient(mlp.unflatten(theta, net), x, y)
    return mlp.unflatten(theta, net), x, y


TORCH_MODULES = {
    "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus, "linear": torch.nn.Identity,
    "erf": lambda: FnModule(torch.erf),
    "g": lambda: FnModule(lambda z: torch.sigmoid(4 * z) + torch.nn.functional.softplus(z)),
}


def sequential(net, s):
    """Seed ``s`` of a batched MLP as a plain ``nn.Sequential`` (the slow, obviously right reference)."""
    layers = []
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(w.shape[2], w.shape[1], bias=b is not None, dtype=net.dtype)
        with torch.no_grad():
            lin.weight.copy_(w[s])
            if b is not None:
                lin.bias.copy_(b[s])
        layers.append(lin)
        if l < len(net.weights) - 1:
            layers.append(TORCH_MODULES[net.activation]())
    return torch.nn.Sequential(*layers)
