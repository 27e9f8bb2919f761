"""Checks of AnnData inputs with errors that name the fix."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _keys as K

if TYPE_CHECKING:
    from anndata import AnnData

#: The call that creates each key, used in error messages.
FIX = {
    K.SEQUENCE: "chromseq.pp.add_sequences(adata, genome=...)",
    K.SPLIT: "chromseq.pp.split_by_chromosome(adata)",
    K.OPEN: "chromseq.pp.read_regions(...)",
    K.BACKGROUND: "chromseq.pp.add_background(adata, genome=...)",
    K.GC: "chromseq.pp.add_sequences(adata, genome=...)",
    K.PRED: "chromseq.tl.predict(adata)",
    K.UNS_MODELS: "chromseq.tl.pretrain(adata) or chromseq.tl.finetune(adata, ...)",
}


#: What a model name may be (also a key a verb writes, ``key_added``): a plain file name, never a path.
#: Letters, digits, ``_ . + -``, starting with a letter or digit: no separators, no ``.``/``..``, no spaces.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
#: Longest model name (a folder name, with room for ``.<name>.ckpt`` and ``-<k>`` within 255 bytes).
MAX_NAME_LENGTH = 100
#: Largest seed: torch generators take seeds below 2**64, numpy any; 2**63 - 1 is safe for both.
MAX_SEED = 2**63 - 1


def check_name(name: object, what: str = "key_added", fix: str = "") -> str:
    """Return ``name`` if it is a plain model name (:data:`NAME_PATTERN`), else raise naming the rule.

    A model name becomes a folder name under ``save_dir`` (and a key in ``uns``/``obsm``), so it
    may never act as a path: ``''``, ``'.'``, ``'..'``, ``'../x'``, ``'/abs'`` and ``'a/b'`` are refused.

    Parameters
    ----------
    name
        The name to check.
    what
        How the caller calls it, for the message (``'key_added'``, ``'name'``, ...).
    fix
        What to do instead, for the message (default: pass another ``what``).

    Raises
    ------
    ValueError
        ``name`` is not a str, is empty or longer than :data:`MAX_NAME_LENGTH`, or has other characters.
    """
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and NAME_PATTERN.fullmatch(name):
        return name
    text = name if isinstance(name, str) else ""
    suggestion = re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).lstrip("._+-")[:MAX_NAME_LENGTH] or "my_model"
    shown = f"{what}={name!r}" if what.isidentifier() else f"{what} {name!r}"
    raise ValueError(
        f"{shown} is not a plain name: model names become folder and key names, so use 1-{MAX_NAME_LENGTH} "
        "letters, digits, '_', '.', '+' or '-', starting with a letter or digit (no '/', spaces, '.' or '..'); "
        f"{fix or f'pass e.g. {what}={suggestion!r}'}."
    )


def positive_int(value: object, what: str) -> int:
    """Return ``value`` as an int if it is a whole number >= 1 (not a bool), else raise naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}.")
    return int(value)


def check_seed(value: object, what: str = "random_state") -> int:
    """Return ``value`` if it is an int seed in ``[0, 2**63 - 1]``, else raise naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{what} must be an int from 0 to 2**63 - 1, got {value!r}.")
    return int(value)


def positive_number(value: object, what: str) -> float:
    """Return ``value`` if it is a finite number > 0 (not a bool), else raise naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not 0 < value < math.inf:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}.")
    return float(value)


def check_labels(labels: np.ndarray, names: list[str], task: str = "classification") -> None:
    """Raise before training if an output's labels are not what ``task`` trains on, naming the column and the fix.

    Classification (the binary loss) trains on 1 (open), 0 (closed) and NaN (unknown, left out):
    any other value (5, -2, 0.5, inf) would train silently on a wrong target.
    """
    for j, name in enumerate(names):
        y = labels[:, j]
        odd = ~np.isnan(y) & (y != 0) & (y != 1)
        if odd.any():
            values = np.unique(y[odd])
            shown = ", ".join(f"{v:g}" for v in values[:5]) + (" ..." if len(values) > 5 else "")
            raise ValueError(
                f"labels of {name!r} hold {int(odd.sum())} value(s) other than 0, 1 and NaN ({shown}): {task} trains "
                f"on 1 (open), 0 (closed) and NaN (unknown). Set adata[:, {name!r}].X to 0/1 (e.g. X > threshold), "
                "with NaN where the label is unknown, and keep continuous values in adata.layers['signal']."
            )


def require_obs(adata: AnnData, key: str) -> None:
    """Raise a :class:`KeyError` naming the fix when ``adata.obs[key]`` is missing."""
    if key not in adata.obs.columns:
        raise KeyError(f"adata.obs[{key!r}] is missing: run {FIX.get(key, 'the step that creates it')} first.")


def require_obsm(adata: AnnData, key: str) -> None:
    """Raise a :class:`KeyError` naming the fix when ``adata.obsm[key]`` is missing."""
    if key not in adata.obsm:
        raise KeyError(f"adata.obsm[{key!r}] is missing: run {FIX.get(key, 'the step that creates it')} first.")


def require_regions(adata: AnnData, what: str) -> None:
    """Raise a :class:`ValueError` when ``adata`` has no regions, instead of writing empty results."""
    if adata.n_obs == 0:
        raise ValueError(f"adata has no regions (n_obs == 0): nothing to {what}. Check the subset or mask passed.")


def sequence_codes(adata: AnnData, rows: np.ndarray | None = None) -> Any:
    """Return ``adata.obsm['sequence']`` after checking it holds uint8 codes 0-4, or only its ``rows``.

    The one check of the codes every verb that reads them runs: vectorised, and chunk by chunk for
    codes on disk (h5py/zarr, returned as they are, unread); with ``rows`` those rows are read,
    checked and returned as an array.

    Raises
    ------
    KeyError
        If ``obsm['sequence']`` is missing.
    ValueError
        If it holds strings, is not 2-d uint8, or holds a code other than 0-4 (the message names rows).
    """
    from chromseq._arrays import is_on_disk, read_rows
    from chromseq._codes import invalid_code_rows

    require_obsm(adata, K.SEQUENCE)
    codes = adata.obsm[K.SEQUENCE]
    if not is_on_disk(codes):
        codes = codes.to_numpy() if hasattr(codes, "to_numpy") else np.asarray(codes)
    where = f"adata.obsm[{K.SEQUENCE!r}]"
    if codes.dtype.kind in "USO":
        raise ValueError(
            f"{where} holds {codes.dtype} strings of shape {codes.shape}, not sequence codes: chromseq needs uint8 codes "
            f"(A0 C1 G2 T3 N4), one column per base, of shape (n_obs, width). Run {FIX[K.SEQUENCE]}."
        )
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(
            f"{where} must be uint8 codes of shape (n_obs, width), got {codes.dtype} {codes.shape}: "
            f"run {FIX[K.SEQUENCE]}."
        )
    if rows is not None:
        codes = read_rows(codes, rows)
    bad = invalid_code_rows(codes)
    if len(bad):
        at = bad if rows is None else np.asarray(rows)[bad]
        names = [str(adata.obs_names[i]) for i in at[:5]]
        raise ValueError(
            f"{where} holds codes outside 0-4 (A0 C1 G2 T3 N4) in {len(bad)} row(s): {names}"
            f"{' ...' if len(bad) > 5 else ''} (rows {at[:5].tolist()}). Rerun {FIX[K.SEQUENCE]}, or set those "
            "rows right (4 = N for unknown bases)."
        )
    return codes


def require_celltypes(adata: AnnData, celltype: str | list[str] | None) -> list[str]:
    """Return ``celltype`` as a list of ``var_names``; ``None`` means all of them.

    Raises
    ------
    KeyError
        If a name is not in ``adata.var_names`` (the message lists them).
    """
    names = list(adata.var_names) if celltype is None else [celltype] if isinstance(celltype, str) else list(celltype)
    unknown = [c for c in names if c not in adata.var_names]
    if unknown:
        raise KeyError(f"unknown cell type(s) {unknown}; adata.var_names are {list(adata.var_names)}.")
    if not names:
        raise ValueError("no cell type selected: pass celltype=<name>, a list of names, or None for all.")
    return names


def uns_chromseq(adata: AnnData) -> dict[str, Any]:
    """Return ``adata.uns['chromseq']``, creating an empty dict if absent."""
    return adata.uns.setdefault(K.UNS, {})
