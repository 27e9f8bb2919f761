"""Training and inference speed of the model presets (any family: ChromTransfer, dilated, topic) at L = 600 bp.

For each preset: FLOPs per sequence (forward, and forward + backward, counted with
torch.utils.flop_counter), training sequences/s through the engine's own epoch loop
(uint8 codes -> device -> RC augmentation -> one-hot on the device -> autocast on CUDA,
fused Adam and cuDNN autotuning on CUDA), inference sequences/s through ``predict_proba``
(forward only, and forward + reverse complement), and the same for a plain reference loop in
the same process: fp32, no autocast, torch's default Adam and cuDNN settings, one-hot built on
the host with numpy, ``nn.BCEWithLogitsLoss``. The achieved TFLOP/s of each training row is
also given as a fraction of the device's dense bf16 peak (on a GPU).

Variants of the engine, each a row timed in the same run against the engine's defaults:
``--compile [MODE]`` (``settings.compile``), ``--no-fused`` (torch's default Adam),
``--no-cudnn-benchmark``, ``--precision fp32 bf16 fp16``; ``--all-variants`` runs them all.

Prints a table and one JSON line.

    python benchmarks/bench_train.py --threads 1                            # CPU: small steps
    python benchmarks/bench_train.py --presets chromtransfer --device cuda --all-variants
    python benchmarks/bench_train.py --threads 1 --presets fast dilated_fast topic_fast   # one row per family
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, build, count_flops, count_parameters
from chromseq.train._acceleration import cuda_tuning, make_optimizer, training_step
from chromseq.train._batches import Batches
from chromseq.train._engine import _train_epoch
from chromseq.train._inference import predict_proba, resolve_precision
from chromseq.train._objective import make_objective
from chromseq.train._spec import TrainSpec

WIDTH = 600
# dense (no sparsity) bf16 tensor-core peak, TFLOP/s (NVIDIA data sheets); the first name found in the
# device name wins, so the PCIe/NVL boards come before the SXM ones
PEAK_BF16 = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H200 NVL": 835.0,
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "L4": 121.0,
    "V100": 125.0,
}


@dataclass(frozen=True)
class Variant:
    """One way to run the engine; the defaults are what ``tl.pretrain`` does."""

    name: str = "engine"
    compile: bool | str = False
    fused: bool | None = None  # None: the engine's choice (fused on CUDA)
    cudnn_benchmark: bool = True  # only matters on CUDA
    precision: str = "auto"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_sequence(preset: str) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs for one 600-bp sequence (a multiply-add counts 2)."""
    model = build(PRESETS[preset]).train()
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


def engine_runner(preset: str, device: torch.device, batch_size: int, variant: Variant) -> Callable[[int], float]:
    """A function timing ``n`` steps (seconds) of the engine's epoch loop run as ``variant`` says."""
    model = build(PRESETS[preset]).to(device)
    spec = TrainSpec(batch_size=batch_size, seed=0, precision=variant.precision)
    precision = resolve_precision(spec.precision, device)
    objective = make_objective(spec, data(64).labels, device)
    opt = make_optimizer(model, spec, device, fused=variant.fused)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    net = training_step(model, device, variant.compile)

    def run(n_steps: int) -> float:
        batches = Batches(model, data(n_steps * batch_size), spec, device, cache=False, train=True)
        with cuda_tuning(device, cudnn_benchmark=variant.cudnn_benchmark):
            _sync(device)
            t0 = time.perf_counter()
            _train_epoch(model, batches, opt, scaler, objective, spec, precision, 0, "bench", net=net)
            _sync(device)
        return time.perf_counter() - t0

    return run


def reference_runner(preset: str, device: torch.device, batch_size: int) -> Callable[[int], float]:
    """A function timing ``n`` steps (seconds) of a plain loop: fp32, one-hot on the host, no augmentation."""
    model = build(PRESETS[preset]).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    eye = np.eye(4, dtype=np.float32)

    def run(n_steps: int) -> float:
        ds = data(n_steps * batch_size)
        _sync(device)
        t0 = time.perf_counter()
        for i in range(n_steps):
            codes = ds.codes[i * batch_size : (i + 1) * batch_size]
            x = torch.from_numpy(np.ascontiguousarray(eye[codes].transpose(0, 2, 1))).to(device)
            y = torch.from_numpy(ds.labels[i * batch_size : (i + 1) * batch_size]).to(device)
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        _sync(device)
        return time.perf_counter() - t0

    return run


def engine_infer(preset: str, device: torch.device, batch_size: int, n: int, rc_average: bool) -> float:
    model = build(PRESETS[preset]).eval()
    ds = data(n)
    predict_proba(model, data(batch_size), batch_size=batch_size, device=device, rc_average=rc_average)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    predict_proba(model, ds, batch_size=batch_size, device=device, rc_average=rc_average)
    _sync(device)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def reference_infer(preset: str, device: torch.device, batch_size: int, n: int) -> float:
    model = build(PRESETS[preset]).to(device).eval()
    ds, eye = data(n), np.eye(4, dtype=np.float32)
    model(torch.zeros(batch_size, 4, WIDTH, device=device))
    _sync(device)
    t0 = time.perf_counter()
    for i in range(0, n, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(eye[ds.codes[i : i + batch_size]].transpose(0, 2, 1))).to(device)
        torch.sigmoid(model(x)).cpu()
    _sync(device)
    return n / (time.perf_counter() - t0)


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def variants(args: argparse.Namespace) -> list[Variant]:
    """The engine's defaults first, then one row per variant asked for."""
    every = args.all_variants
    mode = args.compile or ("default" if every else None)
    out = [Variant()]
    if mode:
        out.append(Variant(f"compile ({mode})", compile=True if mode == "default" else mode))
    if args.no_fused or every:
        out.append(Variant("no fused Adam", fused=False))
    if args.no_cudnn_benchmark or every:
        out.append(Variant("no cudnn.benchmark", cudnn_benchmark=False))
    out += [Variant(f"precision {p}", precision=p) for p in args.precision or (["fp32", "bf16"] if every else [])]
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=["tiny", "chromtransfer"])
    parser.add_argument("--steps", type=int, default=None, help="timed training steps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        metavar="MODE",
        help="add a row with settings.compile (torch.compile mode, default 'default')",
    )
    parser.add_argument("--no-fused", action="store_true", help="add a row with torch's default Adam")
    parser.add_argument("--no-cudnn-benchmark", action="store_true", help="add a row without cuDNN autotuning")
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=["fp32", "bf16", "fp16"],
        default=None,
        help="add a row per autocast precision",
    )
    parser.add_argument("--all-variants", action="store_true", help="all of the above (compile mode 'default')")
    parser.add_argument("--no-inference", action="store_true", help="skip the inference timings")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak, if not in the table")
    return parser.parse_args()


def measure(preset: str, args: argparse.Namespace, device: torch.device, peak: float | None) -> dict:
    gpu = device.type == "cuda"
    # (batch size, timed steps, warm-up steps, inference sequences): CPU-size presets (under 50 MFLOP a
    # sequence: tiny, fast, dilated_fast, topic_fast) take bigger CPU batches than the full-size ones
    small = count_flops(PRESETS[preset], seq_len=WIDTH) < 50e6
    bs, steps, warmup, n_inf = (1024, 30, 5, 65536) if gpu else (64, 4, 1, 512) if small else (16, 2, 1, 64)
    steps = args.steps or steps
    f_fwd, f_train = flops_per_sequence(preset)
    rows = [asdict(v) for v in variants(args)] + [{"name": "plain fp32 loop"}]
    runs = [engine_runner(preset, device, bs, Variant(**r)) for r in rows[:-1]] + [reference_runner(preset, device, bs)]
    for r, run in zip(rows, runs, strict=True):
        r["warmup_s"] = run(warmup)  # compiles (with --compile) and autotunes
    seconds = [[run(steps) for run in runs] for _ in range(args.repeats)]  # interleaved: load drifts alike
    ref = steps * bs / min(t[-1] for t in seconds)
    for i, r in enumerate(rows):
        r["train_seq_s"] = steps * bs / min(t[i] for t in seconds)
        r["vs_engine"] = r["train_seq_s"] / rows[0]["train_seq_s"]
        r["train_tflops"] = r["train_seq_s"] * f_train / 1e12
        r["train_peak_fraction"] = r["train_tflops"] / peak if peak else None
    out = {
        "preset": preset,
        "params": count_parameters(build(PRESETS[preset])),
        "batch_size": bs,
        "gflop_fwd_per_seq": f_fwd / 1e9,
        "gflop_train_per_seq": f_train / 1e9,
        "train_seq_s": rows[0]["train_seq_s"],
        "train_seq_s_reference": ref,
        "train_speedup_vs_reference": rows[0]["train_seq_s"] / ref,
        "train_tflops": rows[0]["train_tflops"],
        "train_peak_fraction": rows[0]["train_peak_fraction"],
        "variants": rows,
    }
    if not args.no_inference:

        def best(fn, *a, **kw):
            return max(fn(*a, **kw) for _ in range(args.repeats))

        out["infer_seq_s"] = best(engine_infer, preset, device, bs, n_inf, rc_average=False)
        out["infer_rc_avg_seq_s"] = best(engine_infer, preset, device, bs, n_inf, rc_average=True)
        out["infer_seq_s_reference"] = best(reference_infer, preset, device, bs, n_inf)
        out["infer_speedup_vs_reference"] = out["infer_seq_s"] / out["infer_seq_s_reference"]
    return out


def report(results: list[dict], device_name: str, peak: float | None) -> None:
    print(f"device: {device_name}; L = {WIDTH} bp; peak (dense bf16) {peak or '-'} TFLOP/s")
    print(f"{'preset':<14}{'variant':<24}{'train seq/s':>12}{'x':>6}{'TFLOP/s':>9}{'of peak':>8}{'warm-up s':>10}")
    for res in results:
        for r in res["variants"]:
            frac = f"{r['train_peak_fraction']:.1%}" if r["train_peak_fraction"] is not None else "-"
            warm = f"{r['warmup_s']:.1f}" if r["warmup_s"] is not None else "-"
            print(
                f"{res['preset']:<14}{r['name']:<24}{r['train_seq_s']:>12.1f}{r['vs_engine']:>6.2f}"
                f"{r['train_tflops']:>9.3f}{frac:>8}{warm:>10}"
            )
    if "infer_seq_s" not in results[0]:
        return
    print(f"\n{'preset':<14}{'params':>9}{'GFLOP/seq fwd':>14}{'infer seq/s':>12}{'+RC':>9}{'ref':>9}{'x':>6}")
    for r in results:
        print(
            f"{r['preset']:<14}{r['params']:>9,}{r['gflop_fwd_per_seq']:>14.3f}{r['infer_seq_s']:>12.1f}"
            f"{r['infer_rc_avg_seq_s']:>9.1f}{r['infer_seq_s_reference']:>9.1f}{r['infer_speedup_vs_reference']:>6.2f}"
        )


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = peak_tflops(device, args.peak_tflops)
    results = [measure(preset, args, device, peak) for preset in args.presets]
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    report(results, device_name, peak)
    print(json.dumps({"benchmark": "bench_train", "device": device_name, "width": WIDTH, "results": results}))


if __name__ == "__main__":
    main()
