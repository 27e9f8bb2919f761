"""Training and inference speed of the ChromTransfer presets at L = 600 bp.

For each preset: FLOPs per sequence (forward, and forward + backward, counted with
torch.utils.flop_counter), training sequences/s through the engine's own epoch loop
(uint8 codes -> device -> RC augmentation -> one-hot on the device -> autocast on CUDA),
inference sequences/s through ``predict_proba`` (forward only, and forward + reverse
complement), and the same for a plain reference loop in the same process: fp32, no
autocast, one-hot built on the host with numpy, ``nn.BCEWithLogitsLoss``. On a GPU the
achieved TFLOP/s is also given as a fraction of the device's dense bf16 peak.

Prints a table and one JSON line.

    python benchmarks/bench_train.py                 # CPU: small steps, ~2 minutes
    python benchmarks/bench_train.py --device cuda   # GPU: large batches
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer, count_parameters
from chromseq.tl._batches import Batches
from chromseq.tl._engine import TrainSpec, _make_optimizer, _train_epoch, class_weights
from chromseq.tl._inference import predict_proba, resolve_precision

WIDTH = 600
# dense (no sparsity) bf16 tensor-core peak, TFLOP/s
PEAK_BF16 = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0, "V100": 125.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_sequence(preset: str) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs for one 600-bp sequence (a multiply-add counts 2)."""
    model = ChromTransfer(PRESETS[preset]).train()
    x = torch.rand(8, 4, WIDTH)
    with FlopCounterMode(display=False) as fwd:
        model.eval()(x)
    with FlopCounterMode(display=False) as both:
        model.train()(x).sum().backward()
    return fwd.get_total_flops() / 8, both.get_total_flops() / 8


def data(n: int, seed: int = 0) -> SequenceDataset:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, WIDTH), dtype=np.uint8)
    return SequenceDataset(codes, (rng.random((n, 1)) < 0.5).astype(np.float32))


def engine_train(preset: str, device: torch.device, batch_size: int, steps: int, warmup: int) -> float:
    """Sequences/s of the engine's training epoch (augmentation, one-hot on device, autocast)."""
    model = ChromTransfer(PRESETS[preset]).to(device)
    spec = TrainSpec(batch_size=batch_size, seed=0)
    precision = resolve_precision("auto", device)
    weights = tuple(torch.as_tensor(w, dtype=torch.float32, device=device) for w in class_weights(data(64).labels))
    opt = _make_optimizer(model, spec)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)

    def run(n_steps: int) -> float:
        batches = Batches(model, data(n_steps * batch_size), spec, device, cache=False, train=True)
        _sync(device)
        t0 = time.perf_counter()
        _train_epoch(model, batches, opt, scaler, weights, spec, precision, 0, "bench")
        _sync(device)
        return time.perf_counter() - t0

    run(warmup)
    return steps * batch_size / run(steps)


def reference_train(preset: str, device: torch.device, batch_size: int, steps: int, warmup: int) -> float:
    """Sequences/s of a plain loop: fp32, one-hot on the host, no augmentation."""
    model = ChromTransfer(PRESETS[preset]).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ds = data((steps + warmup) * batch_size)
    eye = np.eye(4, dtype=np.float32)

    def step(i: int) -> None:
        codes = ds.codes[i * batch_size : (i + 1) * batch_size]
        x = torch.from_numpy(np.ascontiguousarray(eye[codes].transpose(0, 2, 1))).to(device)
        y = torch.from_numpy(ds.labels[i * batch_size : (i + 1) * batch_size]).to(device)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for i in range(warmup):
        step(i)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - t0)


def engine_infer(preset: str, device: torch.device, batch_size: int, n: int, rc_average: bool) -> float:
    model = ChromTransfer(PRESETS[preset]).eval()
    ds = data(n)
    predict_proba(model, data(batch_size), batch_size=batch_size, device=device, rc_average=rc_average)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    predict_proba(model, ds, batch_size=batch_size, device=device, rc_average=rc_average)
    _sync(device)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def reference_infer(preset: str, device: torch.device, batch_size: int, n: int) -> float:
    model = ChromTransfer(PRESETS[preset]).to(device).eval()
    ds, eye = data(n), np.eye(4, dtype=np.float32)
    model(torch.zeros(batch_size, 4, WIDTH, device=device))
    _sync(device)
    t0 = time.perf_counter()
    for i in range(0, n, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(eye[ds.codes[i : i + batch_size]].transpose(0, 2, 1))).to(device)
        torch.sigmoid(model(x)).cpu()
    _sync(device)
    return n / (time.perf_counter() - t0)


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=["tiny", "chromtransfer"])
    parser.add_argument("--steps", type=int, default=None, help="timed training steps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    sizes = {  # (batch size, timed steps, warm-up steps, inference sequences)
        "tiny": (1024, 30, 5, 65536) if gpu else (64, 4, 1, 512),
        "chromtransfer": (1024, 30, 5, 65536) if gpu else (16, 2, 1, 64),
    }
    rows, peak = [], peak_tflops(device)
    for preset in args.presets:
        bs, steps, warmup, n_inf = sizes[preset]
        steps = args.steps or steps
        f_fwd, f_train = flops_per_sequence(preset)

        def best(fn, *a, **kw):  # throughput: best of `repeats`, engine and reference interleaved
            return max(fn(*a, **kw) for _ in range(args.repeats))

        row = {
            "preset": preset,
            "params": count_parameters(ChromTransfer(PRESETS[preset])),
            "batch_size": bs,
            "gflop_fwd_per_seq": f_fwd / 1e9,
            "gflop_train_per_seq": f_train / 1e9,
            "train_seq_s": best(engine_train, preset, device, bs, steps, warmup),
            "train_seq_s_reference": best(reference_train, preset, device, bs, steps, warmup),
            "infer_seq_s": best(engine_infer, preset, device, bs, n_inf, rc_average=False),
            "infer_rc_avg_seq_s": best(engine_infer, preset, device, bs, n_inf, rc_average=True),
            "infer_seq_s_reference": best(reference_infer, preset, device, bs, n_inf),
        }
        row["train_speedup_vs_reference"] = row["train_seq_s"] / row["train_seq_s_reference"]
        row["infer_speedup_vs_reference"] = row["infer_seq_s"] / row["infer_seq_s_reference"]
        row["train_tflops"] = row["train_seq_s"] * f_train / 1e12
        row["train_peak_fraction"] = row["train_tflops"] / peak if peak else None
        rows.append(row)
    device_name = (
        torch.cuda.get_device_name(device)
        if gpu
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    print(f"device: {device_name}; precision {resolve_precision('auto', device)}; L = {WIDTH} bp")
    head = f"{'preset':<14}{'params':>9}{'GFLOP/seq fwd':>14}{'train seq/s':>12}{'ref':>9}{'x':>6}{'infer seq/s':>12}{'+RC':>9}{'ref':>9}{'x':>6}{'TFLOP/s':>9}{'peak':>7}"
    print(head)
    for r in rows:
        frac = f"{r['train_peak_fraction']:.1%}" if r["train_peak_fraction"] is not None else "-"
        print(
            f"{r['preset']:<14}{r['params']:>9,}{r['gflop_fwd_per_seq']:>14.3f}{r['train_seq_s']:>12.1f}"
            f"{r['train_seq_s_reference']:>9.1f}{r['train_speedup_vs_reference']:>6.2f}{r['infer_seq_s']:>12.1f}"
            f"{r['infer_rc_avg_seq_s']:>9.1f}{r['infer_seq_s_reference']:>9.1f}{r['infer_speedup_vs_reference']:>6.2f}"
            f"{r['train_tflops']:>9.3f}{frac:>7}"
        )
    print(json.dumps({"benchmark": "bench_train", "device": device_name, "width": WIDTH, "results": rows}))


if __name__ == "__main__":
    main()
