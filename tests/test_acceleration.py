"""Speed settings of the training loop: fused optimizer, cuDNN autotuning, ``settings.compile``."""

import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer, load_model, save_model
from chromseq.train._acceleration import cuda_tuning, make_optimizer, restore_fused
from chromseq.train._engine import fit
from chromseq.train._inference import predict_proba
from chromseq.train._spec import TrainSpec

WIDTH = 100
# inductor imports torch.jit.script_method, deprecated in torch itself
TORCH_JIT_DEPRECATION = "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"


@pytest.fixture
def compile_on():
    with cs.settings.override(compile=True):
        yield


def model(seed=0):
    return ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(seed))


def datasets(n=264, n_train=200):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (n, WIDTH), dtype=np.uint8)
    y = (rng.random((n, 1)) < 0.5).astype(np.float32)
    return SequenceDataset(codes, y, np.arange(n_train)), SequenceDataset(codes, y, np.arange(n_train, n))


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_optimizer_is_fused_on_cuda_only(optimizer):
    spec = TrainSpec(optimizer=optimizer)
    # CPU parameters accept the fused kernel too, so the CUDA choice can be checked without a GPU
    assert make_optimizer(model(), spec, torch.device("cuda")).defaults["fused"] is True
    assert not make_optimizer(model(), spec, torch.device("cpu")).defaults["fused"]
    assert not make_optimizer(model(), spec).defaults["fused"]


def test_resumed_optimizer_keeps_its_own_kernel_choice():
    net = model()
    on_gpu = make_optimizer(net, TrainSpec(), fused=True)
    on_cpu = make_optimizer(net, TrainSpec(), torch.device("cpu"))
    on_cpu.load_state_dict(on_gpu.state_dict())  # a checkpoint written on CUDA, resumed on CPU
    restore_fused(on_cpu)
    assert not any(g["fused"] for g in on_cpu.param_groups)


def test_cudnn_autotuning_is_on_for_cuda_only_and_restored():
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with cuda_tuning(torch.device("cpu")):
            assert torch.backends.cudnn.benchmark is False
        with pytest.raises(RuntimeError, match="boom"), cuda_tuning(torch.device("cuda")):
            assert torch.backends.cudnn.benchmark is True
            raise RuntimeError("boom")
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


def test_compile_setting_rejects_unknown_modes():
    with pytest.raises(ValueError, match="max-autotune"):
        cs.settings.compile = "fast"


def _fit_compiled(tmp_path, monkeypatch, backend):
    """One epoch with settings.compile on; return (trained model, graphs compiled, validation data)."""
    graphs = []
    real_compile = torch.compile

    def counting(gm, example_inputs):
        graphs.append(gm)
        return torch._dynamo.lookup_backend(backend)(gm, example_inputs)

    # the engine's own call, with the backend swapped (and mode left out: only inductor takes one)
    monkeypatch.setattr(torch, "compile", lambda net, **kw: real_compile(net, backend=counting, dynamic=kw["dynamic"]))
    torch._dynamo.reset()
    train, val = datasets()
    net = model()
    try:
        fit(net, train, val, TrainSpec(max_epochs=1, batch_size=64), device="cpu", checkpoint=tmp_path / "c.pt")
    finally:
        torch._dynamo.reset()
    return net, graphs, val


@pytest.mark.filterwarnings(TORCH_JIT_DEPRECATION)
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_training_saves_a_model_that_reloads_with_the_same_predictions(
    tmp_path, monkeypatch, compile_on, backend
):
    # inductor compiles C++ kernels (~75 s on a loaded CPU core); aot_eager traces the same graphs
    net, graphs, val = _fit_compiled(tmp_path, monkeypatch, backend)
    assert len(graphs) == 1, "one graph for the full batches (no graph break; the last batch of 8 runs eagerly)"
    assert not torch.equal(net.body.stem[0].weight, model().body.stem[0].weight), "the model was not trained"
    checkpoint = torch.load(tmp_path / "c.pt", weights_only=True)
    for state in (net.state_dict(), checkpoint["model"], checkpoint["best_state"]):
        assert not [k for k in state if "_orig_mod" in k]
    loaded = load_model(save_model(net.cpu(), tmp_path / "model"))
    np.testing.assert_array_equal(predict_proba(loaded, val, device="cpu"), predict_proba(net, val, device="cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_autotunes_cudnn_during_the_call_only():
    train, val = datasets()
    seen = []
    before = torch.backends.cudnn.benchmark
    fit(
        model(),
        train,
        val,
        TrainSpec(max_epochs=1, batch_size=64),
        device="cuda",
        callback=lambda *_: seen.append(torch.backends.cudnn.benchmark),
    )
    assert seen == [True]
    assert torch.backends.cudnn.benchmark is before
