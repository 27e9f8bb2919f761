"""One rule, one place: what the training verbs check and decide once per call."""

import numpy as np
import pytest

import chromseq as cs
from chromseq import _codes

FAST = {"preset": "tiny", "batch_size": 32, "learning_rate": 1e-2, "max_epochs": 1}


@pytest.fixture
def regions():
    return cs.datasets.synthetic(n_regions=160, width=60, celltypes=["K562", "HepG2"], random_state=3)


@pytest.fixture
def code_scans(monkeypatch):
    """Count the full scans of the sequence codes (``_codes.invalid_code_rows``, run by ``sequence_codes``)."""
    calls = []
    scan = _codes.invalid_code_rows

    def spy(*args, **kwargs):
        calls.append(np.shape(args[0]) if args else None)
        return scan(*args, **kwargs)

    monkeypatch.setattr(_codes, "invalid_code_rows", spy)
    return calls


@pytest.mark.parametrize("verb", ["pretrain", "train"])
def test_training_scans_the_codes_once(regions, code_scans, tmp_path, verb):
    args = () if verb == "pretrain" else ("K562",)
    getattr(cs.tl, verb)(regions, *args, save_dir=tmp_path, **FAST)
    assert len(code_scans) == 1, f"tl.{verb} scanned obsm['sequence'] {len(code_scans)} times"


def test_finetuning_scans_the_codes_once(regions, code_scans, tmp_path):
    cs.tl.pretrain(regions, save_dir=tmp_path, **FAST)
    code_scans.clear()
    cs.tl.finetune(regions, "K562", save_dir=tmp_path, **{k: v for k, v in FAST.items() if k != "preset"})
    assert len(code_scans) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("batch_size", 0), ("patience", 2.5), ("learning_rate", -1.0), ("optimizer", "sgd"), ("precision", "fp8")],
)
def test_a_bad_setting_gets_one_message_from_both_validators(name, value):
    from chromseq.train import TrainSpec

    with pytest.raises(ValueError) as spec:
        TrainSpec(**{name: value})
    with pytest.raises(ValueError) as options:
        cs.tl.TrainingOptions(**{name: value})
    assert str(spec.value) == str(options.value).replace("TrainingOptions:", "TrainSpec:")


def test_the_kept_epoch_is_the_one_training_recorded():
    from chromseq._metrics import kept_index

    history = {"epoch": [1, 2, 3, 4], "stage": ["head", "head", "full", "full"], "val_loss": [0.3, 0.5, 0.6, 0.55]}
    assert kept_index(history, {"best_epoch": 4, "monitor": "val_loss"}) == 3  # the engine: last stage's best
    assert kept_index(history, {"monitor": "val_loss"}) == 0  # records written before it was recorded


def test_finetuning_records_the_epoch_the_engine_kept(regions, tmp_path):
    from chromseq.store import get_record

    cs.tl.pretrain(regions, save_dir=tmp_path, **FAST)
    fast = {k: v for k, v in FAST.items() if k != "preset"}
    cs.tl.finetune(regions, "K562", save_dir=tmp_path, **(fast | {"max_epochs": 4}))
    record = get_record(regions, "finetuned_K562")
    stages = dict(zip(record.history["epoch"], record.history["stage"], strict=True))
    assert stages[record.params["best_epoch"]] == record.history["stage"][-1]


def test_engine_errors_reach_the_user_in_anndata_terms(regions, tmp_path):
    from chromseq import _keys as K

    val = (regions.obs[K.SPLIT] == "val").to_numpy()
    regions.X[val, list(regions.var_names).index("K562")] = 0
    fast = {k: v for k, v in FAST.items() if k != "preset"}
    options = cs.tl.TrainingOptions(monitor="val_auroc")
    with pytest.raises(ValueError, match=r"'K562' has 0 positive .* val split.*split_by_chromosome"):
        cs.tl.train(regions, "K562", options=options, save_dir=tmp_path, preset="tiny", **fast)
    assert not (tmp_path / "scratch_K562").exists()


def test_the_training_core_speaks_of_arrays_not_anndata():
    import inspect

    from chromseq.train import _engine

    source = inspect.getsource(_engine)
    assert "obs[" not in source and "chromseq.pp" not in source and "chromosome" not in source
