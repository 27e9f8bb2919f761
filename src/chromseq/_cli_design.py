"""Subcommand ``chromseq design``: an .h5ad with a trained model -> designed sequences (.h5ad and FASTA)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._settings import logger


def design_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help=".h5ad with the trained model (uns['chromseq']['models']) and its regions")
    p.add_argument("--celltype", required=True, help="the output (cell type) to design for")
    p.add_argument("--model", default=None, help="model name (default: a fine-tuned, else scratch, model of it)")
    p.add_argument(
        "--start",
        default="10",
        help="a number of random GC-matched sequences, or an .h5ad of regions to start from (default: 10)",
    )
    p.add_argument("--method", default="evolve", choices=["evolve", "implant"], help="in-silico evolution or motif")
    p.add_argument("--objective", default="raise", choices=["raise", "specific", "lower"], help="what to maximise")
    p.add_argument("--steps", type=int, default=20, help="most substitutions per sequence (evolve)")
    p.add_argument("--beam", type=int, default=1, help="sequences kept per start at each step (evolve; 1 = greedy)")
    p.add_argument("--motif", default=None, help="JASPAR matrix ID or TF name, or bases (implant)")
    p.add_argument("--gc", type=float, default=None, help="GC fraction of random starts (default: the regions')")
    p.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass (a reverse complement is a row)")
    p.add_argument("-o", "--output", required=True, help="output .h5ad of the designs (written atomically)")
    p.add_argument("--fasta", default=None, help="also write the designed sequences as FASTA")


def design(args: argparse.Namespace) -> None:
    from . import tl
    from ._io_utils import read_h5ad_checked, write_h5ad_atomic

    adata = read_h5ad_checked(Path(args.input))
    start = args.start
    if start.isdigit():
        start = int(start)
    else:
        start = read_h5ad_checked(Path(start))
    ddata = tl.design(
        adata,
        args.celltype,
        start=start,
        method=args.method,
        objective=args.objective,
        model=args.model,
        steps=args.steps,
        beam=args.beam,
        motif=args.motif,
        gc=args.gc,
        batch_size=args.batch_size,
    )
    write_h5ad_atomic(ddata, Path(args.output))
    logger.info("wrote %s (%d designed sequences)", args.output, ddata.n_obs)
    if args.fasta:
        write_fasta(ddata, Path(args.fasta))
        logger.info("wrote %s", args.fasta)


def write_fasta(ddata, path: Path) -> None:
    """Write the designs as FASTA: ``>design_<i> source=<start> score=<objective>``, 60 bases a line (atomic)."""
    from . import _keys as K
    from ._codes import decode
    from ._io_utils import atomic_path

    seqs = decode(ddata.obsm[K.SEQUENCE])
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for name, source, score, seq in zip(
            ddata.obs_names, ddata.obs[K.DESIGN_SOURCE], ddata.obs[K.DESIGN_SCORE], seqs, strict=True
        ):
            fh.write(f">{name} source={source} score={score:.4g}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
