"""Where contribution scores live: only the rows computed, keyed by obs name, in ``uns``.

``uns['chromseq']['contributions'][<name>]`` holds the parameters of :func:`chromseq.tl.contributions`
plus ``obs_names`` (str, n_computed) and ``scores`` (float, n_computed x 4 x width). Rows are named,
not numbered, so the scores stay attached to their regions under ``adata[mask]``, reordering and
concatenation. AnnData files written before this layout kept a dense ``obsm['contrib_<name>']``
with NaN rows where nothing was computed; :func:`get_contributions` still reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._settings import logger
from chromseq._validate import uns_chromseq

if TYPE_CHECKING:
    from anndata import AnnData

#: Fields that must agree for new rows to be added to stored ones (otherwise they replace them).
_SAME_RUN = ("method", "model", "output", "target", "n_shuffles", "fingerprint", "width")
#: What a field missing from an entry meant (entries written before regression models explained ``'logit'``).
_MISSING = {"target": "logit"}


def stored_contributions(adata: AnnData) -> list[str]:
    """Return the names (cell types or models) with stored contribution scores, in storage order.

    Parameters
    ----------
    adata
        Regions AnnData (or a view).

    Returns
    -------
    Names under ``uns['chromseq']['contributions']`` that hold scores, then those of a legacy
    dense ``obsm['contrib_<name>']``.
    """
    entries = adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {})
    names = [str(k) for k, v in entries.items() if isinstance(v, dict) and K.CONTRIB_SCORES in v]
    legacy = [k[len(K.CONTRIB_PREFIX) :] for k in adata.obsm.keys() if k.startswith(K.CONTRIB_PREFIX)]
    return names + [n for n in legacy if n not in names]


def get_contributions(
    adata: AnnData, celltype: str, regions: str | Sequence[str] | None = None
) -> tuple[np.ndarray, pd.Index]:
    """Return the stored hypothetical contribution scores of ``celltype`` and the regions they belong to.

    Parameters
    ----------
    adata
        Regions AnnData (or a view / subset such as ``adata[adata.obs.split == 'test']``); only its
        own regions are returned.
    celltype
        Name the scores are stored under (as passed to :func:`chromseq.tl.contributions`).
    regions
        obs name(s) to return, in this order; every one must have scores. ``None``: every region
        of ``adata`` that has scores, in ``adata``'s order.

    Returns
    -------
    scores
        float32 (n, 4, width): hypothetical contributions (ACGT, per base, in the units of the model's
        raw output: logit for classification, the value or the Poisson log-rate for regression; the
        entry's ``target`` says which).
    obs_names
        :class:`pandas.Index` (n) of the regions, aligned with ``scores``.

    Examples
    --------
    >>> scores, names = cs.tl.get_contributions(adata, "K562")  # doctest: +SKIP
    >>> scores.shape, names[:2]  # doctest: +SKIP
    ((300, 4, 600), Index(['chr20:61095-61695', 'chr20:281437-282037'], dtype='object'))
    """
    names, scores = _stored(adata, celltype)
    positions = pd.Index(names).get_indexer(adata.obs_names)
    here = np.flatnonzero(positions >= 0)
    found = adata.obs_names[here]
    if regions is not None:
        wanted = pd.Index([regions] if isinstance(regions, str) else list(regions))
        missing = wanted.difference(found)
        if len(missing):
            raise KeyError(
                f"contributions for {celltype!r} were not computed for region(s) {list(missing[:5])} "
                f"({len(found)} regions of this AnnData have them): run chromseq.tl.contributions on a "
                "selection that includes them."
            )
        positions = pd.Index(names).get_indexer(wanted)
        return np.asarray(scores[positions], dtype=np.float32), wanted
    return np.asarray(scores[positions[here]], dtype=np.float32), pd.Index(found)


def _stored(adata: AnnData, celltype: str) -> tuple[np.ndarray, np.ndarray]:
    """Return all stored obs names (str) and scores (n, 4, L) of ``celltype``, new layout or legacy obsm."""
    entry = adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {}).get(celltype)
    if isinstance(entry, dict) and K.CONTRIB_SCORES in entry:
        return np.asarray(entry[K.CONTRIB_OBS_NAMES]).astype(str), np.asarray(entry[K.CONTRIB_SCORES])
    key = K.contrib_key(celltype)
    if key in adata.obsm:  # dense layout of files written by chromseq <= 0.x: NaN rows were not computed
        dense = np.asarray(adata.obsm[key])
        rows = np.flatnonzero(~np.isnan(dense.reshape(len(dense), -1)[:, 0]))
        return adata.obs_names.to_numpy().astype(str)[rows], dense[rows]
    raise KeyError(
        f"no contributions stored for {celltype!r} (stored: {stored_contributions(adata)}): run "
        f"chromseq.tl.contributions(adata, celltype={celltype!r}) first (on the regions to analyse, "
        "e.g. test-split positives)."
    )


def write_contributions(
    root: AnnData, key: str, names: np.ndarray, scores: np.ndarray, params: dict[str, Any], dtype: np.dtype
) -> None:
    """Store ``scores`` of regions ``names`` under ``uns['chromseq']['contributions'][key]`` of ``root``.

    Rows stored earlier with the same method, model, output, units and width are kept (new rows win); otherwise the
    entry is replaced. A legacy dense ``obsm['contrib_<key>']`` is folded in and removed.
    """
    store = uns_chromseq(root).setdefault(K.UNS_CONTRIB, {})
    old = store.get(key)
    legacy = K.contrib_key(key)
    same = (
        old is not None
        and key in stored_contributions(root)
        and all(old.get(f, _MISSING.get(f)) == params.get(f, _MISSING.get(f)) for f in _SAME_RUN)
    )
    names = np.asarray(names).astype(str)
    if same:
        old_names, old_scores = _stored(root, key)
        keep = ~np.isin(old_names, names)
        names = np.concatenate([old_names[keep], names])
        scores = np.concatenate([old_scores[keep].astype(dtype), scores.astype(dtype)])
    action = "updated" if same else "replaced" if old is not None else "added"
    if legacy in root.obsm:
        del root.obsm[legacy]
    order = pd.Index(names).get_indexer(root.obs_names)
    order = order[order >= 0]
    if len(order) < len(names):  # rows of regions no longer in root (a subset written back): keep at the end
        order = np.concatenate([order, np.setdiff1d(np.arange(len(names)), order)])
    params[K.CONTRIB_OBS_NAMES] = names[order]
    params[K.CONTRIB_SCORES] = np.ascontiguousarray(scores[order], dtype=dtype)
    params["n_computed"] = len(order)
    store[key] = params
    logger.info(
        "contributions: %s uns[%r][%r][%r] (%s of the %s; %d regions computed in all)",
        action,
        K.UNS,
        K.UNS_CONTRIB,
        key,
        params["method"],
        params.get("target", _MISSING["target"]),
        params["n_computed"],
    )
