"""The PyTorch user's journey, in an environment with torch and without TensorFlow (`pip install
'causalc[torch]'`, KERAS_BACKEND=torch): per-step PyTorch models built here are exported to ONNX with both of
torch's exporters, imported with `causalc import MODEL.onnx -o SPEC --practice P.keras`, and the practice
model — a torch.nn.Module under Keras's torch backend — equals the PyTorch model on the window ending at
every step t >= W-1; a plain PyTorch loop with a torch optimiser trains it. tests/test_backends.py runs in
the same environment (every bundled spec against TensorFlow's results and the evaluator).

Skipped unless torch is installed and Keras's backend is torch; CI runs it in its own environment.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, relative_error

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="the PyTorch journey: KERAS_BACKEND=torch (CI runs it without TensorFlow)")
nn = torch.nn


class ShallowNet(nn.Module):
    """ShallowFBCSPNet's structure (braindecode): (batch, C, W) -> (batch, 1, W, C), a temporal and a
    spatial convolution, batch norm, square, mean pool, safe log, dropout, a final convolution over the
    rest, log-softmax."""

    def __init__(self, channels=4, window=90, classes=3):
        super().__init__()
        self.conv_time = nn.Conv2d(1, 8, (13, 1))
        self.conv_spat = nn.Conv2d(8, 8, (1, channels), bias=False)
        self.bnorm = nn.BatchNorm2d(8)
        self.pool = nn.AvgPool2d((15, 1), stride=(5, 1))
        self.drop = nn.Dropout(0.5)
        rest = (window - 12 - 15) // 5 + 1
        self.final = nn.Conv2d(8, classes, (rest, 1))

    def forward(self, x):
        x = x.unsqueeze(-1).permute(0, 3, 2, 1)
        x = self.bnorm(self.conv_spat(self.conv_time(x)))
        x = torch.log(torch.clamp(self.pool(x * x), min=1e-6))
        x = self.final(self.drop(x))
        return torch.log_softmax(x, dim=1).squeeze(3).squeeze(2)


class Cnn1d(nn.Module):
    """A 1-D classifier with what PyTorch code reaches for: padding, dilation, groups, LeakyReLU's own slope,
    MaxPool with ceil_mode, BatchNorm1d, PReLU per channel, ELU, F.pad, a Linear over the channels-first
    flatten, softmax."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 6, 3, padding=1, dilation=2, groups=2)
        self.c2 = nn.Conv1d(6, 5, 3, stride=2)
        self.bn = nn.BatchNorm1d(5)
        self.prelu = nn.PReLU(5)
        self.fc = nn.Linear(5 * 6, 3)

    def forward(self, x):
        x = nn.functional.max_pool1d(nn.functional.leaky_relu(self.c1(x)), 2, ceil_mode=True)
        x = nn.functional.elu(self.prelu(self.bn(self.c2(x))), alpha=0.5)
        x = nn.functional.pad(x, (1, 0))
        return torch.softmax(self.fc(x.flatten(1)), dim=1)


class CroppedTcn(nn.Module):
    """A per-step TCN block as pytorch-tcn-style code writes it: dilated convolutions without padding and
    a residual cut to their width (x[:, :, -n:]), then the newest step into a Linear."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(3, 4, 2, dilation=1)
        self.b = nn.Conv1d(4, 4, 2, dilation=2)
        self.match = nn.Conv1d(3, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.tanh(self.b(torch.relu(self.a(x))))
        r = h + self.match(x)[:, :, -h.shape[2]:]
        return self.head(r[:, :, -1])


class Activations(nn.Module):
    """The activations PyTorch models use, as torch exports them (Gelu, x * sigmoid(x), Mish, Softplus with
    its threshold, Hardsigmoid, ReLU6, Hardswish, ELU)."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(2, 6, 3)
        self.layers = nn.Sequential(nn.GELU(), nn.SiLU(), nn.Mish(), nn.Softplus(), nn.Hardsigmoid(), nn.ReLU6(),
                                    nn.Hardswish(), nn.ELU())
        self.fc = nn.Linear(6 * 8, 2)

    def forward(self, x):
        return self.fc(self.layers(self.c(x)).flatten(1))


MODELS = {"shallow": (ShallowNet, (4, 90)), "cnn1d": (Cnn1d, (2, 26)), "tcn": (CroppedTcn, (3, 12)),
          "activations": (Activations, (2, 10))}


def _trained(build):
    """The model with weights and batch-norm statistics away from their initial values, in eval mode."""
    torch.manual_seed(0)
    model = build()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.dtype.is_floating_point:
                tensor.normal_(0.0, 0.4)
    return model.eval()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_pytorch_models_import_exactly(tmp_path, name, exporter):
    from convert.cli import main

    build, shape = MODELS[name]
    model = _trained(build)
    window = shape[1]
    path = tmp_path / "model.onnx"
    example = torch.randn(2, *shape)
    if exporter == "dynamo":
        torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    else:
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}})
    spec, practice_path = tmp_path / "spec.yaml", tmp_path / "practice.keras"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(spec), "--practice", str(practice_path)])
    assert result.exit_code == 0, result.output
    practice = keras.saving.load_model(str(practice_path))
    assert isinstance(practice, torch.nn.Module)
    x = np.random.default_rng(1).normal(size=(2, window + 30, shape[0])).astype(np.float32)  # (batch, T, C)
    got = np.asarray(practice(x).detach().cpu())[:, window - 1:]
    with torch.no_grad():  # PyTorch's (batch, C, W) windows
        want = np.stack([model(torch.from_numpy(x[:, t - window + 1:t + 1].transpose(0, 2, 1).copy())).numpy()
                         for t in range(window - 1, x.shape[1])], axis=1)
    assert relative_error(got, want) < 1e-5


def test_a_torch_optimiser_trains_the_practice_model(tmp_path):
    """The practice model in a plain PyTorch loop: every step's target at once, the warm-up out of the loss."""
    import convert.api as causalc

    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    keras.utils.set_random_seed(0)
    model = causalc.practice_model(spec)
    window = causalc.load(spec).window
    t = np.arange(600, dtype=np.float32)
    signal = np.sin(2 * np.pi * t / 23.0)[None, :, None] * np.ones((4, 1, 1), np.float32)
    x, target = torch.from_numpy(signal[:, :-1]), torch.from_numpy(signal[:, 1:])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        optimiser.zero_grad()
        prediction = model(x)
        loss = torch.mean((prediction[:, window - 1:] - target[:, window - 1:]) ** 2)  # no warm-up in the loss
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses[::10]


def test_readme_bring_your_own_model_for_pytorch_users(tmp_path, monkeypatch):
    text = open(os.path.join(ROOT, "docs", "import.md"), encoding="utf-8").read()
    block = text.split("**For PyTorch users**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "docs/import.md", "exec"), namespace)
    assert namespace["error"] < 1e-5 * float(namespace["per_window"].abs().max())
    assert np.isfinite(float(namespace["loss"]))


def test_predict_runs_under_torch(tmp_path):
    """Dense prediction needs no TensorFlow: every row is the practice model's over the whole recording."""
    from convert.cli import main
    import convert.api as causalc

    spec = os.path.join(ROOT, "specs", "fcn-classifier.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    recording = np.random.default_rng(5).normal(size=(700, 1)).astype(np.float32)
    np.save(tmp_path / "rec.npy", recording)
    result = runner.invoke(main, ["predict", spec, str(tmp_path / "fcn-classifier.keras"), str(tmp_path / "rec.npy"),
                                  "-o", str(tmp_path / "rows.npy"), "--chunk", "256"])
    assert result.exit_code == 0, result.output
    model = causalc.load_model(str(tmp_path / "fcn-classifier.keras"))
    want = np.asarray(keras.ops.convert_to_numpy(model(recording[None])))[0]
    assert relative_error(np.load(tmp_path / "rows.npy"), want) < 1e-5
