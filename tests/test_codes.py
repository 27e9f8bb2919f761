import numpy as np
import pytest
import torch

from chromseq._codes import decode, encode, gc_fraction, one_hot, reverse_complement_codes, reverse_complement_one_hot


def test_encode_is_case_insensitive_and_maps_ambiguity_to_n():
    np.testing.assert_array_equal(encode("ACGTacgtNRY"), [0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4])


def test_decode_round_trips():
    assert decode(encode("ACGTN")) == "ACGTN"
    assert decode(np.stack([encode("AC"), encode("GT")])) == ["AC", "GT"]


def test_one_hot_shape_and_n_is_zero():
    x = one_hot(np.array([[0, 1, 2, 3, 4]], dtype=np.uint8))
    assert x.shape == (1, 4, 5)
    torch.testing.assert_close(x[0, :, :4], torch.eye(4))
    assert x[0, :, 4].sum() == 0


def test_reverse_complement_agrees_between_codes_and_one_hot():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(3, 17), dtype=np.uint8)
    rc_codes = reverse_complement_codes(codes)
    assert decode(reverse_complement_codes(encode("AACGN"))) == "NCGTT"
    torch.testing.assert_close(one_hot(np.ascontiguousarray(rc_codes)), reverse_complement_one_hot(one_hot(codes)))


def test_gc_fraction_ignores_n():
    gc = gc_fraction(np.stack([encode("GGCC"), encode("GANN"), encode("NNNN")]))
    np.testing.assert_allclose(gc[:2], [1.0, 0.5])
    assert np.isnan(gc[2])


def test_settings_reject_bad_values():
    import chromseq as cs

    with pytest.raises(ValueError, match="verbosity"):
        cs.settings.verbosity = 7
    with pytest.raises(ValueError, match="seed"):
        cs.settings.seed = -1
    assert cs.settings.resolve_device("cpu").type == "cpu"
