import json

import numpy as np
import pytest
import torch

from chromseq.models import (
    PRESETS,
    ChromTransfer,
    ChromTransferConfig,
    build,
    count_parameters,
    get_config,
    load_model,
    read_model_card,
    save_model,
)
from chromseq.models._network import SameConv1d


def _seeded(config, seed=0):
    return build(config, generator=torch.Generator().manual_seed(seed)).eval()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_forward_maps_one_hot_to_one_logit_per_output(preset):
    model = _seeded(PRESETS[preset].replace(head="finetune", outputs=("A", "B", "C")))
    x = torch.zeros(3, 4, 600)
    assert model(x).shape == (3, 3)
    assert model.body(x).shape == (3, model.config.embed_dim)
    assert model.outputs == ["A", "B", "C"]


def test_chromtransfer_preset_has_published_sizes():
    cfg = PRESETS["chromtransfer"]
    assert (cfg.inner_filters, cfg.stem_filters, cfg.stem_kernel, cfg.block_kernels) == (64, 64, 25, (20, 15, 10, 5))
    assert cfg.embed_dim == 64 and cfg.seq_len == 600
    model = ChromTransfer(cfg)
    assert count_parameters(model) == 652_513  # the number stated in the docstring and report
    assert count_parameters(model.body) == 552_160


def test_first_stage_blocks_are_concatenated():
    cfg = PRESETS["chromtransfer"]
    body = ChromTransfer(cfg).body
    assert body.proj2.main[0][0].in_channels == cfg.n_blocks * cfg.inner_filters // 2


def test_even_kernel_same_padding_matches_keras_alignment():
    conv = SameConv1d(1, 1, 4)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    x = torch.zeros(1, 1, 12)
    x[0, 0, 6] = 1.0
    hit = torch.nonzero(conv(x)[0, 0]).flatten().tolist()
    # Keras 'same', k=4: output i sees inputs i-1 .. i+2, so the impulse at 6 reaches outputs 4..7
    assert hit == [4, 5, 6, 7]
    assert conv(x).shape == x.shape


def test_bad_input_shape_raises():
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        ChromTransfer(PRESETS["tiny"])(torch.zeros(2, 600, 4))


def test_config_round_trips_through_json():
    cfg = get_config("tiny", head="finetune", outputs=("K562", "HepG2"), seq_len=500)
    assert ChromTransferConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize(
    "change", [{"inner_filters": 15}, {"dropout": 1.5}, {"outputs": ()}, {"outputs": ("a", "a")}, {"head": "x"}]
)
def test_invalid_config_raises(change):
    with pytest.raises(ValueError):
        PRESETS["tiny"].replace(**change)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="tiny"):
        get_config("huge")


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    model = _seeded(PRESETS["tiny"].replace(head="finetune", outputs=("K562",)))
    with torch.no_grad():  # non-default batch-norm statistics must travel too
        model.body.stem[2].running_mean.uniform_()
    path = save_model(model, tmp_path / "m", card={"kind": "finetune", "fingerprint": "sha256:abc"})
    x = torch.rand(5, 4, 600)
    loaded = load_model(path)
    assert not loaded.training
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.config == model.config


def test_model_folder_holds_safetensors_config_and_card(tmp_path):
    path = save_model(_seeded(PRESETS["tiny"]), tmp_path / "m", card={"kind": "pretrain"})
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    meta = read_model_card(path)
    assert meta["card"]["kind"] == "pretrain" and meta["n_parameters"] == count_parameters(
        ChromTransfer(PRESETS["tiny"])
    )
    assert "inner filters F = 16" in (path / "README.md").read_text()


def test_card_of_a_regression_model_says_task_loss_and_targets(tmp_path):
    card = {"kind": "finetune", "task": "regression", "loss": "poisson", "target_layer": "counts"}
    path = save_model(_seeded(PRESETS["tiny"]), tmp_path / "m", card=card)
    readme = (path / "README.md").read_text()
    assert "- task: regression; loss: poisson; predictions: rates (exp of the output)" in readme
    assert "- targets: layers['counts']; transform: as read" in readme
    plain = (save_model(_seeded(PRESETS["tiny"]), tmp_path / "c", card={"kind": "pretrain"}) / "README.md").read_text()
    assert "task" not in plain and "loss" not in plain


def test_save_replaces_existing_folder_without_leftovers(tmp_path):
    save_model(_seeded(PRESETS["tiny"], 0), tmp_path / "m")
    second = _seeded(PRESETS["tiny"], 1)
    save_model(second, tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    x = torch.rand(2, 4, 600)
    torch.testing.assert_close(load_model(tmp_path / "m")(x), second(x))


def test_unserialisable_card_leaves_nothing_behind(tmp_path):
    with pytest.raises(TypeError):
        save_model(_seeded(PRESETS["tiny"]), tmp_path / "m", card={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_load_rejects_folder_without_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a chromseq model folder"):
        load_model(tmp_path)


def test_initialisation_is_seeded():
    a, b = _seeded(PRESETS["tiny"], 3), _seeded(PRESETS["tiny"], 3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not np.allclose(_seeded(PRESETS["tiny"], 4).body.stem[0].weight.detach(), a.body.stem[0].weight.detach())


def test_stem_pooling_shortens_the_feature_map_and_keeps_the_parameters():
    fast, tiny = PRESETS["tiny"].replace(stem_pool=4), PRESETS["tiny"]  # the `fast` preset's pooling
    assert PRESETS["fast"].stem_pool == 4 and fast.body_key() != tiny.body_key()  # bodies are not interchangeable
    model = _seeded(fast)
    assert model.body.feature_map(torch.zeros(2, 4, 602)).shape == (2, fast.tail_filters, 151)  # ceil(602 / 4)
    assert count_parameters(model) == count_parameters(_seeded(tiny))
    with pytest.raises(ValueError, match="stem_pool"):
        tiny.replace(stem_pool=0)


def test_jaspar_stem_filters_start_as_the_motifs():
    from chromseq._jaspar import jaspar
    from chromseq.models._motif_init import STEM_TFS

    model = _seeded(PRESETS["fast"].replace(stem_init="jaspar"))
    weight = model.body.stem[0].weight.detach().numpy()
    db = jaspar()
    gata1 = db.ppms[db.names.index("GATA1")]  # 7 bp, centred in the 15-bp kernel
    assert STEM_TFS[0] == "GATA1"
    assert "".join("ACGT"[i] for i in weight[0, :, 4:11].argmax(axis=0)) == "".join("ACGT"[i] for i in gata1.argmax(0))
    assert np.allclose(weight[0, :, :4], 0) and np.allclose(weight[0, :, 11:], 0)
    assert np.allclose(np.linalg.norm(weight.reshape(len(weight), -1), axis=1), np.sqrt(2), atol=1e-5)  # He scale
    assert (model.body.stem[0].bias.detach().numpy() < 0).all()  # silent on background
    he = _seeded(PRESETS["fast"])
    assert not np.allclose(he.body.stem[0].weight.detach().numpy(), weight)
    with pytest.raises(ValueError, match="stem_init"):
        PRESETS["fast"].replace(stem_init="motifs")


def test_composition_features_are_the_inputs_kmer_frequencies():
    from chromseq.models._network import KmerFrequencies

    codes = np.random.default_rng(0).integers(0, 5, size=(3, 40))  # with N (code 4)
    x = torch.zeros(3, 4, 40)
    for i, j in np.argwhere(codes < 4):
        x[i, codes[i, j], j] = 1
    counted = KmerFrequencies((1, 2, 3))(x).numpy()  # no gradient needed: integer k-mer codes
    convolved = KmerFrequencies((1, 2, 3))(x.clone().requires_grad_(True)).detach().numpy()  # for DeepLIFT
    np.testing.assert_allclose(counted, convolved, atol=1e-5)
    out = counted
    for i in range(3):
        expected = []
        for k in (1, 2, 3):
            counts = np.zeros(4**k)
            for j in range(40 - k + 1):
                window = codes[i, j : j + k]
                if (window < 4).all():
                    counts[int("".join(map(str, window)), 4)] += 1
            expected.append(counts / (40 - k + 1) * 4**k)
        np.testing.assert_allclose(out[i], np.concatenate(expected), atol=1e-5)


def test_composition_k_widens_the_embedding_and_keeps_the_weights_file(tmp_path):
    config = get_config("tiny", composition_k=[1, 2]).replace(head="finetune", outputs=("A",))
    assert config.composition_k == (1, 2) and config.embed_dim == config.tail_filters + 20
    net = ChromTransfer(config, generator=torch.Generator().manual_seed(0)).eval()
    assert net.body(torch.zeros(2, 4, 100)).shape == (2, config.embed_dim)
    loaded = load_model(save_model(net, tmp_path / "m"))
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 100)), 4).permute(0, 2, 1).float()
    torch.testing.assert_close(loaded(x), net(x))
    assert loaded.config == config
    with pytest.raises(ValueError, match="composition_k"):
        get_config("tiny", composition_k=(0,))
