"""Two commands writing one .h5ad: the second never silently drops the first's results (issue 25, class 8)."""

import argparse
import os
import subprocess
import sys

import anndata as ad
import pytest

from chromseq import _keys as K
from chromseq._cli_steps import run_step
from chromseq._io_utils import output_lock, write_h5ad_atomic


def _args(path):
    return argparse.Namespace(input=str(path), output=str(path))


def _mark(name):
    def step(adata):
        adata.uns.setdefault(K.UNS, {}).setdefault("marks", {})[name] = 1

    return step


def test_a_file_rewritten_between_read_and_write_is_kept_and_the_result_written_beside(tmp_path, make_regions):
    path = tmp_path / "regions.h5ad"
    make_regions().write_h5ad(path)

    def slow_step(adata):  # another command finishes and rewrites the file while this one trains
        other = ad.read_h5ad(path)
        _mark("first")(other)
        write_h5ad_atomic(other, path)
        _mark("second")(adata)

    with pytest.raises(
        ValueError, match=r"rewritten by another command after this one read it; .*written to .*regions\."
    ) as err:
        run_step(_args(path), slow_step)
    assert dict(ad.read_h5ad(path).uns[K.UNS]["marks"]) == {"first": 1}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("regions.") and p.name != "regions.h5ad"]
    assert len(aside) == 1 and str(aside[0]) in str(err.value)
    assert dict(ad.read_h5ad(aside[0]).uns[K.UNS]["marks"]) == {"second": 1}


def test_commands_one_after_the_other_keep_both_results(tmp_path, make_regions):
    path = tmp_path / "regions.h5ad"
    make_regions().write_h5ad(path)
    run_step(_args(path), _mark("first"))
    run_step(_args(path), _mark("second"))
    assert dict(ad.read_h5ad(path).uns[K.UNS]["marks"]) == {"first": 1, "second": 1}
    assert sorted(os.listdir(tmp_path)) == ["regions.h5ad"]  # no lock file left behind


_HOLD = """
import sys
from chromseq._io_utils import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _holder(path):
    """A process holding the output lock of ``path`` until a line arrives on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_output_lock_makes_a_second_writer_wait_and_names_the_holder(tmp_path):
    path = tmp_path / "out.h5ad"
    holder = _holder(path)
    try:
        with pytest.raises(ValueError, match=rf"being written by another chromseq command \(pid {holder.pid} "):
            with output_lock(path, timeout=0.3):
                pass
    finally:
        holder.communicate("done\n", timeout=30)
    with output_lock(path, timeout=5):  # released when its holder is done
        pass


def test_a_lock_whose_holder_died_is_free(tmp_path):
    path = tmp_path / "out.h5ad"
    holder = _holder(path)
    holder.kill()  # kill -9: the lock file stays, its flock goes with the process
    holder.communicate(timeout=30)  # also closes its pipes
    assert (tmp_path / ".out.h5ad.lock").exists()
    with output_lock(path, timeout=1):
        pass
    assert not (tmp_path / ".out.h5ad.lock").exists()
