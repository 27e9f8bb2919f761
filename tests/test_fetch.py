"""Public ChromTransfer label files: pooch download with sha256 checks, cache, offline use, and the full loader.

A loopback HTTP server (127.0.0.1, a free port) serves decompressed copies of ../shared/data; nothing
leaves the machine.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq.datasets import _fetch
from chromseq.datasets._chromtransfer_full import GRCH38_SIZES

SMALL_CHROMS = ["chr1", "chr2", "chr3", "chr8"]  # train, test, test, val
SMALL_END = 2_000_000  # regions ending before this, so the test genome is 2.1 Mb a chromosome


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving ``root``, counting the requests it answers."""

    def __init__(self, root: Path) -> None:
        self.requests = 0
        server = self

        class Handler(_QuietHandler):
            def do_GET(self):
                server.requests += 1
                super().do_GET()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Loopback requests must not go through a proxy configured in the environment."""
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def mirror(shared_data, tmp_path_factory) -> Path:
    """The 12 label files, decompressed (byte-identical to upstream), laid out as upstream."""
    root = tmp_path_factory.mktemp("mirror")
    for split in _fetch.FILE_SPLITS:
        (root / split).mkdir()
        for cell in _fetch.FILE_CELLS.values():
            with gzip.open(shared_data / "chromtransfer_grch38_labels" / split / f"{cell}.csv.gz") as src:
                (root / split / f"{cell}.csv").write_bytes(src.read())
    return root


@pytest.fixture
def server(mirror):
    srv = Server(mirror)
    yield srv
    srv.close()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def cached_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# ----------------------------------------------------------------------------- fetcher


def test_download_writes_checksummed_files_to_the_cache(server, tmp_path):
    files = _fetch.fetch_label_files(["HepG2"], cache_dir=tmp_path, url=server.url)
    expected = [tmp_path / _fetch.CACHE_SUBDIR / name for name in ("train/HEPG2.csv", "test/HEPG2.csv")]
    assert files == {"HepG2": expected}
    for path, name in zip(expected, ("train/HEPG2.csv", "test/HEPG2.csv"), strict=True):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == _fetch.REGISTRY[name]
    assert server.requests == 2


def test_second_call_reads_the_cache_without_a_server(server, tmp_path, dead_url):
    first = _fetch.fetch_label_files(["K562"], cache_dir=tmp_path, url=server.url)
    server.close()
    second = _fetch.fetch_label_files(["K562"], cache_dir=tmp_path, url=dead_url)
    assert second == first


def test_corrupted_download_raises_and_caches_nothing(mirror, tmp_path):
    bad = tmp_path / "bad_mirror"
    shutil.copytree(mirror, bad)
    data = bytearray((bad / "train" / "A549.csv").read_bytes())
    data[100] = ord("7") if data[100] != ord("7") else ord("8")  # one changed digit
    (bad / "train" / "A549.csv").write_bytes(bytes(data))
    srv = Server(bad)
    try:
        with pytest.raises(ValueError, match=r"checksum mismatch for .*train/A549\.csv.*not cached"):
            _fetch.fetch_label_files(["A549"], cache_dir=tmp_path / "cache", url=srv.url)
    finally:
        srv.close()
    assert cached_files(tmp_path / "cache") == []


def test_tampered_cache_file_is_downloaded_again(server, tmp_path):
    (path,) = _fetch.fetch_label_files(["MCF7"], cache_dir=tmp_path, url=server.url)["MCF7"][:1]
    path.write_text("chr1:0-600,MCF7\n")
    again = _fetch.fetch_label_files(["MCF7"], cache_dir=tmp_path, url=server.url)["MCF7"][0]
    assert _fetch.file_sha256(again) == _fetch.REGISTRY["train/MCF7.csv"]


def test_offline_without_cache_raises_naming_the_offline_fixes(tmp_path, dead_url):
    with pytest.raises(ConnectionError, match=r"labels=.*CHROMSEQ_DATA_URL"):
        _fetch.fetch_label_files(["GM12878"], cache_dir=tmp_path, url=dead_url)


def test_environment_variable_sets_the_base_url(server, tmp_path, monkeypatch):
    monkeypatch.setenv(_fetch.URL_ENV, server.url.rstrip("/"))
    files = _fetch.fetch_label_files(["HCT116"], cache_dir=tmp_path)
    assert all(p.is_file() for p in files["HCT116"]) and server.requests == 2


def test_default_cache_is_the_settings_cache_dir(server, tmp_path, monkeypatch):
    monkeypatch.setattr(cs.settings, "cache_dir", tmp_path / "settings_cache")
    files = _fetch.fetch_label_files(["A549"], url=server.url)
    assert files["A549"][0].is_relative_to(tmp_path / "settings_cache")


def test_local_folder_is_used_offline_and_matches_the_registry(shared_data, caplog):
    folder = shared_data / "chromtransfer_grch38_labels"
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        files = _fetch.local_label_files(folder, ["HepG2"])
    assert files == {"HepG2": [folder / "train" / "HEPG2.csv.gz", folder / "test" / "HEPG2.csv.gz"]}
    assert not caplog.records  # gzip copies hash, decompressed, to the published sha256


def test_missing_local_file_names_what_was_looked_for(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no train label file for K562.*train/K562\.csv"):
        _fetch.local_label_files(tmp_path, ["K562"])


# ----------------------------------------------------------------------------- the loader


def small_label_folder(mirror: Path, folder: Path, cells=("HCT116", "A549")) -> Path:
    """Upstream layout with only the lines of regions on SMALL_CHROMS ending before SMALL_END."""
    for split in _fetch.FILE_SPLITS:
        (folder / split).mkdir(parents=True)
        for cell in cells:
            lines = pd.Series((mirror / split / f"{cell}.csv").read_text().splitlines())
            parts = lines.str.extract(r"^(\w+):(\d+)-(\d+),")
            keep = parts[0].isin(SMALL_CHROMS) & (parts[2].astype(int) < SMALL_END)
            (folder / split / f"{cell}.csv").write_text("\n".join(lines[keep]) + "\n")
    return folder


def random_codes(size: int, seed: int, telomere: int = 10_000) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, 4, size=size, dtype=np.uint8)
    codes[:telomere] = 4
    return codes


@pytest.fixture
def small_fasta(tmp_path) -> Path:
    """A plain FASTA of SMALL_CHROMS, 2.1 Mb each, 1,000-bp lines."""
    path = tmp_path / "small.fa"
    with open(path, "wb") as fh:
        for i, chrom in enumerate(SMALL_CHROMS):
            letters = np.frombuffer(b"ACGTN", np.uint8)[random_codes(2_100_000, i)].reshape(-1, 1000)
            lines = np.concatenate([letters, np.full((len(letters), 1), ord("\n"), np.uint8)], axis=1)
            fh.write(f">{chrom}\n".encode() + lines.tobytes())
    return path


def expected_labels(folder: Path, cell: str) -> pd.Series:
    """{region: label} of one cell line, read independently of chromseq."""
    rows = [
        line.split(",") for split in ("train", "test") for line in (folder / split / f"{cell}.csv").read_text().split()
    ]
    return pd.Series(dict(rows))


def test_loader_downloads_and_builds_the_anndata(server, tmp_path, mirror):
    sizes = {c: GRCH38_SIZES[c] for c in ("chr21", "chr22")}
    block = random_codes(1 << 20, 0, telomere=0)
    genome = cs.Genome.from_arrays({c: np.resize(block, n) for c, n in sizes.items()}, name="standin")
    adata = cs.datasets.chromtransfer(
        genome, celltypes=["hct116"], chroms=["chr21", "22"], split=False, cache_dir=tmp_path, base_url=server.url
    )
    labels = expected_labels(mirror, "HCT116")
    labels = labels[labels.index.str.match(r"chr2[12]:")]
    regions = adata[~adata.obs[K.BACKGROUND]]
    assert sorted(regions.obs_names) == sorted(labels.index)
    x = pd.Series(regions.X[:, 0], index=regions.obs_names)[labels.index]
    np.testing.assert_array_equal(x.to_numpy(), (labels == "HCT116").to_numpy().astype(np.float32))
    np.testing.assert_array_equal(regions.obs[K.OPEN].to_numpy(), (labels[regions.obs_names] != "Negative").to_numpy())
    assert adata.obs[K.BACKGROUND].sum() == regions.obs[K.OPEN].sum()
    obs = adata.obs
    np.testing.assert_array_equal(
        adata.obsm[K.SEQUENCE], genome.windows(obs[K.CHROM].astype(str), obs[K.START], obs[K.END])
    )
    params = adata.uns["chromseq"]["params"]["chromtransfer"]
    assert params["labels"]["HCT116"] == [f"{server.url}train/HCT116.csv", f"{server.url}test/HCT116.csv"]
    assert params["labels_sha256"]["test/HCT116.csv"] == _fetch.REGISTRY["test/HCT116.csv"]


def test_loader_with_local_files_sets_the_paper_split_offline(mirror, small_fasta, tmp_path, dead_url):
    folder = small_label_folder(mirror, tmp_path / "labels")
    adata = cs.datasets.chromtransfer(
        small_fasta, labels=folder, celltypes=["HCT116", "A549"], chroms=SMALL_CHROMS, base_url=dead_url, random_state=0
    )
    split = adata.obs.groupby(K.CHROM, observed=True)[K.SPLIT].unique().map(list).to_dict()
    assert split == {"chr1": ["train"], "chr2": ["test"], "chr3": ["test"], "chr8": ["val"]}
    assert adata.obs[K.BACKGROUND].any() and set(adata.var_names) == {"HCT116", "A549"}
    labels = expected_labels(folder, "A549")
    assert set(labels.index) <= set(adata.obs_names)
    assert adata.uns["chromseq"]["genome"]["path"] == str(small_fasta.resolve())


def test_loader_accepts_a_mapping_of_files(mirror, small_fasta, tmp_path):
    folder = small_label_folder(mirror, tmp_path / "labels", cells=("K562",))
    files = {"K562": [folder / "train" / "K562.csv", folder / "test" / "K562.csv"]}
    adata = cs.datasets.chromtransfer(
        small_fasta, labels=files, celltypes="K562", chroms=SMALL_CHROMS, background=False
    )
    assert adata.n_obs == len(expected_labels(folder, "K562"))
    assert adata.uns["chromseq"]["params"]["read_regions"]["sources"]["K562"] == [str(p) for p in files["K562"]]


def test_split_needs_the_held_out_chromosomes(tmp_path):
    with pytest.raises(ValueError, match=r"lacks \['chr8', 'chr2', 'chr3'\].*split=False"):
        cs.datasets.chromtransfer(tmp_path / "unused.fa", chroms=["chr21"], labels=tmp_path)


def test_unknown_cell_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"celltypes must be distinct names from \['A549'"):
        cs.datasets.chromtransfer(tmp_path / "unused.fa", celltypes=["HeLa"], labels=tmp_path)
