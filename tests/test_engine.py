import numpy as np
import pytest
import torch

from chromseq._codes import one_hot, reverse_complement_codes
from chromseq.data import BatchSampler, SequenceDataset, augment_codes
from chromseq.models import PRESETS, ChromTransfer
from chromseq.train._engine import class_weights, fit, weighted_bce
from chromseq.train._inference import model_state, predict_proba
from chromseq.train._spec import TrainSpec

WIDTH = 100
MOTIF = np.array([2, 0, 3, 0, 0, 2, 2, 1], np.uint8)  # GATAAGGC


def planted(n=360, seed=0):
    """Random codes; label 1 rows carry three copies of MOTIF."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, WIDTH), dtype=np.uint8)
    y = rng.random(n) < 0.5
    for i in np.flatnonzero(y):
        for pos in rng.choice(np.arange(0, WIDTH - 8, 8), 3, replace=False):
            codes[i, pos : pos + 8] = MOTIF
    return codes, y[:, None].astype(np.float32)


def datasets(n=360):
    codes, y = planted(n)
    cut = int(n * 0.75)
    return SequenceDataset(codes, y, np.arange(cut)), SequenceDataset(codes, y, np.arange(cut, n))


def model(seed=0):
    return ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(seed))


def spec(**kw):
    return TrainSpec(**{"max_epochs": 3, "batch_size": 32, "seed": 0, **kw})


def test_class_weights_balance_classes_and_ignore_nan():
    w_pos, w_neg = class_weights(np.array([[1], [0], [0], [0], [np.nan]], np.float32))
    np.testing.assert_allclose([w_pos[0], w_neg[0]], [2.0, 4 / 6])


def test_class_weights_need_both_classes():
    with pytest.raises(ValueError, match="no positive or no negative"):
        class_weights(np.array([[1.0], [1.0], [np.nan]], np.float32))


def test_weighted_bce_ignores_nan_labels():
    logits = torch.tensor([[0.3, 5.0], [-1.0, -2.0]])
    y = torch.tensor([[1.0, float("nan")], [0.0, float("nan")]])
    w = torch.ones(2)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y[:, 0])
    torch.testing.assert_close(weighted_bce(logits, y, w, w), expected)


def test_fit_learns_a_planted_motif():
    train, val = datasets(480)
    result = fit(model(), train, val, spec(max_epochs=5, learning_rate=1e-2), device="cpu")
    assert max(result.history["val_auroc"]) > 0.9
    assert result.best_score == min(result.history["val_loss"])


def test_monitor_val_auroc_keeps_the_epoch_of_the_best_validation_auroc():
    train, val = datasets(480)
    net = model()
    result = fit(net, train, val, spec(max_epochs=4, learning_rate=1e-2, monitor="val_auroc", patience=4), device="cpu")
    aurocs = result.history["val_auroc"]
    best = int(np.argmax(aurocs))
    assert result.best_epoch == result.history["epoch"][best] and result.best_score == -aurocs[best]
    # the weights kept are that epoch's: validating them again gives its AUROC
    again = fit(net, train, val, spec(max_epochs=1, learning_rate=1e-12, monitor="val_auroc"), device="cpu")
    assert again.history["val_auroc"][0] == pytest.approx(aurocs[best], abs=0.02)


def test_monitor_val_auroc_needs_both_classes_in_validation():
    codes, y = planted(200)
    y[150:] = 0
    train, val = SequenceDataset(codes, y, np.arange(150)), SequenceDataset(codes, y, np.arange(150, 200))
    with pytest.raises(ValueError, match="monitor='val_loss'"):
        fit(model(), train, val, spec(max_epochs=1, monitor="val_auroc"), device="cpu")


def test_fit_is_deterministic_on_cpu():
    train, val = datasets()
    a, b = model(), model()
    ha = fit(a, train, val, spec(max_epochs=2), device="cpu").history
    hb = fit(b, train, val, spec(max_epochs=2), device="cpu").history
    assert ha["val_loss"] == hb["val_loss"]
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_fit_does_not_touch_the_global_rng():
    train, val = datasets()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(model(), train, val, spec(max_epochs=1), device="cpu")
    torch.testing.assert_close(torch.rand(3), expected)


def test_resume_continues_where_an_interrupted_run_stopped(tmp_path):
    train, val = datasets()
    full = model()
    uninterrupted = fit(full, train, val, spec(max_epochs=3), device="cpu").history

    def interrupt(epoch, history):
        if epoch == 2:
            raise KeyboardInterrupt

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(model(), train, val, spec(max_epochs=3), device="cpu", checkpoint=ckpt, callback=interrupt)
    resumed_model = model(seed=99)  # other initial weights: everything must come from the checkpoint
    resumed = fit(resumed_model, train, val, spec(max_epochs=3), device="cpu", checkpoint=ckpt, resume=True)
    assert resumed.history["epoch"] == [1, 2, 3]
    assert resumed.history["val_loss"] == uninterrupted["val_loss"]
    for pa, pb in zip(full.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_checkpoint_is_plain_tensors_and_rejects_other_config(tmp_path):
    train, val = datasets()
    ckpt = tmp_path / "ckpt.pt"
    fit(model(), train, val, spec(max_epochs=1), device="cpu", checkpoint=ckpt, fingerprint="fp")
    payload = torch.load(ckpt, weights_only=True)
    assert payload["epoch"] == 1 and payload["fingerprint"] == "fp"
    other = ChromTransfer(PRESETS["chromtransfer"].replace(seq_len=WIDTH))
    with pytest.raises(ValueError, match="another model config"):
        fit(other, train, val, spec(max_epochs=2), device="cpu", checkpoint=ckpt, resume=True, fingerprint="fp")
    with pytest.raises(ValueError, match="other training data"):
        fit(model(), train, val, spec(max_epochs=2), device="cpu", checkpoint=ckpt, resume=True, fingerprint="x")


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    train, val = datasets()
    # a learning rate this small leaves the validation loss to noise: it stops rising within a few epochs
    result = fit(model(), train, val, spec(max_epochs=10, patience=1, learning_rate=1e-9), device="cpu")
    assert result.stopped_early
    assert len(result.history["epoch"]) < 10
    assert result.history["epoch"][-1] == result.best_epoch + 1


def test_frozen_body_trains_heads_only():
    train, val = datasets()
    net = model()
    body_before = {k: v.clone() for k, v in net.body.state_dict().items()}
    heads_before = [p.clone() for p in net.heads.parameters()]
    fit(net, train, val, spec(max_epochs=1, freeze_body=True), device="cpu")
    for k, v in net.body.state_dict().items():
        assert torch.equal(v, body_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(heads_before, net.heads.parameters(), strict=True))


def test_frozen_body_with_cached_embeddings_matches_uncached_training():
    train, val = datasets()
    cached, direct = model(), model()
    h1 = fit(cached, train, val, spec(max_epochs=2, freeze_body=True), device="cpu").history
    h2 = fit(direct, train, val, spec(max_epochs=2, freeze_body=True, cache_embeddings=False), device="cpu").history
    np.testing.assert_allclose(h1["val_loss"], h2["val_loss"], rtol=1e-4)


def test_rc_augmentation_reverse_complements_flipped_rows():
    codes = torch.from_numpy(planted(16)[0])
    out, flip = augment_codes(codes, generator=torch.Generator().manual_seed(0), rc=True)
    assert 0 < flip.sum() < 16
    rc = torch.from_numpy(np.ascontiguousarray(reverse_complement_codes(codes.numpy())))
    assert torch.equal(out[flip], rc[flip]) and torch.equal(out[~flip], codes[~flip])


def test_shift_augmentation_moves_sequence_and_pads_with_n():
    codes = torch.arange(10, dtype=torch.uint8).remainder(4)[None].repeat(64, 1)
    out, _ = augment_codes(codes, generator=torch.Generator().manual_seed(1), rc=False, max_shift=3)
    n_count = (out == 4).sum(1)
    assert n_count.max() == 3 and (n_count == 0).any()
    row = int(torch.nonzero(out[:, 0] == 4)[0, 0])  # shifted right: N first, then the sequence
    k = int(n_count[row])
    assert torch.equal(out[row, k:], codes[row, : 10 - k])


def test_batch_sampler_covers_each_row_once_and_shards_disjointly():
    gen = torch.Generator().manual_seed(0)
    batches = list(BatchSampler(103, 10, shuffle=True, generator=gen))
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    shards = [
        np.concatenate(
            list(BatchSampler(103, 10, shuffle=True, generator=torch.Generator().manual_seed(0), rank=r, world_size=2))
        )
        for r in (0, 1)
    ]
    assert not set(shards[0]) & set(shards[1]) and len(shards[0]) + len(shards[1]) == 103


def test_shuffle_without_generator_is_refused():
    with pytest.raises(ValueError, match="Generator"):
        BatchSampler(10, 2, shuffle=True)


def test_predictions_do_not_depend_on_batch_size_and_model_state_is_restored():
    _, val = datasets()
    net = model().train()
    p1 = predict_proba(net, val, batch_size=7, device="cpu")
    p2 = predict_proba(net, val, batch_size=64, device="cpu")
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)
    assert net.training


def test_model_state_restores_each_modules_mode_also_after_an_error():
    net = model().train()
    net.body.eval()  # a frozen body under training heads: mixed modes
    with pytest.raises(RuntimeError, match="boom"), model_state(net, "cpu") as inside:
        assert not any(m.training for m in inside.modules())
        raise RuntimeError("boom")
    assert net.training and not net.body.training
    assert next(net.parameters()).device.type == "cpu"


def test_rc_average_is_strand_symmetric():
    codes, y = planted(20)
    net = model()
    fwd = predict_proba(net, SequenceDataset(codes, y), device="cpu")
    rc = np.ascontiguousarray(reverse_complement_codes(codes))
    rev = predict_proba(net, SequenceDataset(rc, y), device="cpu")
    np.testing.assert_allclose(fwd, rev, rtol=1e-5, atol=1e-6)
    assert one_hot(codes[:1]).shape == (1, 4, WIDTH)


def test_progress_bars_fall_back_to_text_without_ipywidgets(monkeypatch):
    import sys

    from tqdm.std import tqdm as text_bar

    from chromseq.train._inference import progress_bar

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails: no widget bars, no IProgress warning
    assert issubclass(progress_bar(), text_bar)
    assert not issubclass(progress_bar(), __import__("tqdm.auto").auto.tqdm)


def test_progress_bars_use_tqdm_auto_with_ipywidgets():
    import ipywidgets  # noqa: F401  (in the dev extra: most Jupyter users have it)
    from tqdm.auto import tqdm as auto_bar

    from chromseq.train._inference import progress_bar

    assert issubclass(progress_bar(), auto_bar)  # this used to recurse without end


def test_progress_bar_shows_on_a_terminal_of_zero_width():
    import os
    import select
    import subprocess
    import sys

    code = (
        "import os, sys; from chromseq.train._inference import progress_bar, progress_disabled\n"
        "assert os.get_terminal_size(2).columns == 0\n"
        "for _ in progress_bar()(range(3), desc='epoch', disable=progress_disabled()): pass\n"
    )
    master, slave = os.openpty()  # a new pseudo-terminal reports 0 columns, like `script` or a job runner
    try:
        proc = subprocess.run([sys.executable, "-c", code], stderr=slave, stdout=subprocess.PIPE, timeout=120)
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            chunks.append(os.read(master, 65536))
    finally:
        os.close(slave)
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    assert "epoch" in text and "3/3" in text, text
