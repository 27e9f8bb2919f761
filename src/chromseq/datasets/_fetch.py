"""Fetching the public ChromTransfer label files: pooch downloads, checked with sha256, kept in the cache dir.

The registry lists the 12 files ``multiclass-baseline/data/raw/{train,test}/<CELL>.csv`` of
github.com/anderssonlab/ChromTransfer at commit ``52167ab1`` with the sha256 of their bytes.
A file is downloaded once into ``settings.cache_dir`` (to a temporary name, moved into place only
after its checksum matched), and read from there afterwards without any network. The base URL can
point at a mirror: the ``base_url`` argument, else the ``CHROMSEQ_DATA_URL`` environment variable.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from chromseq._settings import logger, settings

#: Commit of github.com/anderssonlab/ChromTransfer that the registry describes.
COMMIT = "52167ab1"
#: Where the label files are downloaded from (overridden by ``base_url=`` or ``$CHROMSEQ_DATA_URL``).
DEFAULT_URL = f"https://raw.githubusercontent.com/anderssonlab/ChromTransfer/{COMMIT}/multiclass-baseline/data/raw/"
URL_ENV = "CHROMSEQ_DATA_URL"
#: Sub-folder of ``settings.cache_dir`` holding the downloads.
CACHE_SUBDIR = f"chromtransfer_grch38_labels_{COMMIT}"
#: Cell lines, as chromseq names them -> as the file names spell them.
FILE_CELLS = {
    "A549": "A549",
    "GM12878": "GM12878",
    "HCT116": "HCT116",
    "HepG2": "HEPG2",
    "K562": "K562",
    "MCF7": "MCF7",
}
FILE_SPLITS = ("train", "test")
#: sha256 of each file (the uncompressed CSV, byte-identical to upstream).
REGISTRY = {
    "train/A549.csv": "7939017afa85823c4717309b9eae1d2f043d211e67febb881b71b618b8697139",
    "train/GM12878.csv": "a1ad99c412070fec362b7a946a47e59a5c5bd8b8044d13a82e2e7d9140cb5f34",
    "train/HCT116.csv": "559d2198a34e40a7a82c7ca9015d8af0bcb0828ba68a61931ab46a7aea3058ae",
    "train/HEPG2.csv": "16a62794915e15e9676b3dd9cb0d4150b61ef8e29ede52dcb511ba122bcb037b",
    "train/K562.csv": "473abaa2a125b6c30e68f4df56237d0039517134b8d50bb6afc104ea2380cdcf",
    "train/MCF7.csv": "8d4d796ffb25630fea5413780700da874a6ac42ab55ca07eb9851d2b115022b9",
    "test/A549.csv": "4ec3694eee16a03b8661027d43dd8017d4d852944988e1c3e2c2c0937fc8d3d0",
    "test/GM12878.csv": "e513cf5579da3c3b969ba51653d493561d200a6d1d2f9f92fb5352d2b98be0bc",
    "test/HCT116.csv": "abbdca1bffe8e5824fb511271e10d4070f3cee0292eebd4d70ef8cd511b9f700",
    "test/HEPG2.csv": "193a5452bc80b1f24591b99c2437437aac659279ea3fae45fe5172a496ac752b",
    "test/K562.csv": "41bb01a8055707b932dbdad4f673924e14081cb5b6fc0cc57070b3ac40647b03",
    "test/MCF7.csv": "f7eacd4bab1091c74947350b374aed0d00debd7ef0229672f928bef6e49a0367",
}


def label_file_names(celltypes: Iterable[str]) -> dict[str, list[str]]:
    """Registry names of the train and test file of each cell line: ``{'HepG2': ['train/HEPG2.csv', ...]}``."""
    return {ct: [f"{split}/{FILE_CELLS[ct]}.csv" for split in FILE_SPLITS] for ct in celltypes}


def base_url(url: str | None = None) -> str:
    """Return the download base URL: ``url``, else ``$CHROMSEQ_DATA_URL``, else :data:`DEFAULT_URL` (ends with ``/``)."""
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    return url if url.endswith("/") else url + "/"


def fetch_label_files(
    celltypes: Sequence[str],
    *,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
) -> dict[str, list[Path]]:
    """Return the local paths of the label files of ``celltypes``, downloading those not yet cached.

    Parameters
    ----------
    celltypes
        Cell lines (keys of :data:`FILE_CELLS`).
    cache_dir
        Folder for the downloads (default ``chromseq.settings.cache_dir``); files go to its
        :data:`CACHE_SUBDIR` sub-folder.
    url
        Base URL of the ``{train,test}/<CELL>.csv`` files (default: :func:`base_url`).

    Returns
    -------
    dict
        ``{celltype: [train CSV path, test CSV path]}``.

    Raises
    ------
    ValueError
        A download whose sha256 differs from the registry; nothing is kept.
    ConnectionError
        A file is neither cached nor downloadable (offline, wrong URL).
    """
    import pooch

    folder = Path(cache_dir if cache_dir is not None else settings.cache_dir).expanduser() / CACHE_SUBDIR
    source = base_url(url)
    pup = pooch.create(path=folder, base_url=source, registry={k: f"sha256:{v}" for k, v in REGISTRY.items()})
    progress = sys.stderr.isatty() and settings.verbosity >= 1
    out: dict[str, list[Path]] = {}
    for ct, names in label_file_names(celltypes).items():
        out[ct] = [_fetch_one(pup, name, source, progress) for name in names]
    return out


def _fetch_one(pup, name: str, source: str, progress: bool) -> Path:
    import requests

    try:
        with _quiet_pooch():
            return Path(pup.fetch(name, processor=_log_download, progressbar=progress))
    except ValueError as err:  # pooch: the hash of the download does not match
        raise ValueError(
            f"checksum mismatch for {source}{name}: {err} The file was not cached. The server sent a different or "
            f"corrupted file: retry, or check the base URL (base_url=, ${URL_ENV})."
        ) from err
    except PermissionError:  # the cache folder is not writable: pooch's message names it
        raise
    except (requests.RequestException, OSError) as err:
        raise ConnectionError(
            f"cannot download {source}{name} ({type(err).__name__}: {err}) and it is not in the cache "
            f"({Path(pup.abspath) / name}). Without internet, pass labels=<folder with train/ and test/ CSVs> or the "
            f"paths of the files, or point ${URL_ENV} (or base_url=) at a mirror."
        ) from err


def _log_download(fname: str, action: str, pup) -> str:
    """Log, as a pooch processor, what was downloaded (``action`` is 'download', 'update' or 'fetch' from the cache)."""
    if action != "fetch":
        logger.info("downloaded %s (sha256 checked) to %s", Path(fname).relative_to(pup.abspath), fname)
    return fname


@contextmanager
def _quiet_pooch():
    """Route pooch's download chatter through chromseq's logger level (pooch logs INFO to stderr by default)."""
    import pooch

    plog = pooch.get_logger()
    level = plog.level
    plog.setLevel(logging.WARNING)
    try:
        yield
    finally:
        plog.setLevel(level)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's content; a gzip file is hashed decompressed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_label_files(
    labels: str | os.PathLike | Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]],
    celltypes: Sequence[str],
) -> dict[str, list[Path]]:
    """Resolve ``labels`` given by the user to ``{celltype: [paths]}`` without any download.

    ``labels`` is either a folder laid out like upstream (``train/<CELL>.csv`` and
    ``test/<CELL>.csv``, optionally gzipped; ``HEPG2`` or ``HepG2``), whose files are compared with
    the registry checksums (a difference is logged, the file is used as given), or a mapping
    ``{celltype: path or [paths]}`` of files in the same ``chrom:start-end,LABEL`` format.
    """
    if isinstance(labels, Mapping):
        return _mapped_files(labels, celltypes)
    folder = Path(labels).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"labels={str(labels)!r} is not a folder. Pass a folder holding train/<CELL>.csv and test/<CELL>.csv "
            "(gzip allowed), a {celltype: [paths]} mapping, or labels=None to download the public files."
        )
    out: dict[str, list[Path]] = {}
    for ct, names in label_file_names(celltypes).items():
        out[ct] = [_find_local(folder, name, ct) for name in names]
    return out


def _find_local(folder: Path, name: str, celltype: str) -> Path:
    split = name.split("/")[0]
    stems = dict.fromkeys([FILE_CELLS[celltype], celltype, celltype.upper()])
    candidates = [folder / split / f"{stem}{suffix}" for stem in stems for suffix in (".csv", ".csv.gz")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"no {split} label file for {celltype} in {folder}: looked for {[str(p.relative_to(folder)) for p in candidates]}."
        )
    digest = file_sha256(found)
    if digest != REGISTRY[name]:
        logger.warning(
            "%s differs from the published %s (sha256 %s, expected %s); using it as given",
            found,
            name,
            digest,
            REGISTRY[name],
        )
    return found


def _mapped_files(labels: Mapping, celltypes: Sequence[str]) -> dict[str, list[Path]]:
    by_upper = {str(k).upper(): v for k, v in labels.items()}
    missing = [ct for ct in celltypes if ct.upper() not in by_upper]
    if missing:
        raise KeyError(f"labels has no files for cell type(s) {missing}; it names {list(labels)}.")
    out: dict[str, list[Path]] = {}
    for ct in celltypes:
        value = by_upper[ct.upper()]
        paths = [Path(value)] if isinstance(value, str | os.PathLike) else [Path(p) for p in value]
        absent = [str(p) for p in paths if not p.is_file()]
        if absent or not paths:
            raise FileNotFoundError(f"label file(s) {absent or paths} for {ct} do not exist.")
        out[ct] = paths
    return out
