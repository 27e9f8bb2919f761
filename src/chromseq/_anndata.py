"""The one place chromseq copies an AnnData, handles views, and calls anndata's private API.

Every verb that writes into an AnnData gets the object to write into from :func:`writable`; a verb
that returns a new AnnData in place of the user's (``pp.add_background``, the bundled dataset's
background windows) swaps the contents with :func:`replace_contents`. No other module calls a
private AnnData method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData


def writable(adata: AnnData, copy: bool, verb: str) -> AnnData:
    """Return the AnnData a verb writes into; the one rule of every chromseq verb that writes.

    ``copy=True``: a copy (arrays on disk are loaded into memory). Otherwise ``adata`` itself; a
    view (``adata[mask]``) is first made an actual AnnData holding its rows only, with a warning,
    as anndata and scanpy do: the AnnData it was taken from is never changed. To compute on some
    rows and keep the results in the whole AnnData, pass the rows as ``mask=`` where a verb has it.
    """
    from chromseq._arrays import is_on_disk
    from chromseq._settings import logger

    if copy or adata.is_view:
        on_disk = adata.isbacked or is_on_disk(adata.X) or any(is_on_disk(v) for v in adata.obsm.values())
        if on_disk:
            logger.info("%s: loading the AnnData's arrays on disk into memory (AnnData.to_memory())", verb)
        actual = adata.to_memory() if on_disk else adata.copy()
        if copy:
            return actual
        logger.warning(
            "%s: adata is a view; it is made an actual AnnData of its %d regions and the results are written there, "
            "not into the AnnData it was taken from (pass mask= to a verb that has it to write into the whole one).",
            verb, adata.n_obs,
        )  # fmt: skip
        replace_contents(adata, actual)
    return adata


def replace_contents(adata: AnnData, new: AnnData) -> None:
    """Make ``adata`` hold the contents of ``new`` in place (same Python object; a view becomes actual).

    Parameters
    ----------
    adata
        The user's AnnData (or view), changed in place.
    new
        An actual AnnData whose arrays ``adata`` takes over (not copied).
    """
    adata._init_as_actual(new)
