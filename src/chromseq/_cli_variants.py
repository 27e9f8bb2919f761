"""Subcommands ``chromseq variants`` (VCF -> scored variants .h5ad + TSV) and ``chromseq tracks`` (bigWig/BED)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._settings import logger


# -- variants ---------------------------------------------------------------------------------------
def variants_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("vcf", help="variants: VCF/BCF (plain, gzip or bgzip), multi-allelic records split per ALT")
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        help="an .h5ad whose models to apply (its genome is the default), and/or model folders",
    )
    p.add_argument("--genome", default=None, help="FASTA path or genomepy name (default: the genome of the .h5ad)")
    p.add_argument(
        "--celltype", "--celltypes", dest="celltype", nargs="+", default=None,
        help="score only these cell types (their fine-tuned models)",
    )  # fmt: skip
    p.add_argument(
        "--ref-mismatch",
        default="error",
        choices=["error", "flag", "skip"],
        help="REF differing from the genome: fail, score and flag, or skip and flag",
    )
    p.add_argument("--contributions", action="store_true", help="also store ref/alt contribution scores")
    p.add_argument("--no-rc-average", action="store_true", help="forward strand only (no reverse-complement average)")
    p.add_argument("--batch-size", type=int, default=512, help="windows per forward pass")
    p.add_argument(
        "-o", "--output", "--out", dest="output", required=True,
        help="output .h5ad (variants x outputs; written atomically)",
    )  # fmt: skip
    p.add_argument("--tsv", default=None, help="also write a table: one row per variant, ref/alt/delta per output")


def variants(args: argparse.Namespace) -> None:
    from . import tl
    from ._io_utils import atomic_path, read_h5ad_checked, write_h5ad_atomic

    h5ads = [m for m in args.models if Path(m).suffix == ".h5ad"]
    folders = [m for m in args.models if Path(m).suffix != ".h5ad"]
    if len(h5ads) > 1:
        raise ValueError(f"--models takes at most one .h5ad (got {h5ads}); score the others in separate runs.")
    adata = read_h5ad_checked(Path(h5ads[0])) if h5ads else None
    vdata = tl.score_variants(
        adata,
        args.vcf,
        genome=args.genome,
        models=folders + ([adata] if folders and adata is not None else []) or None,
        celltype=args.celltype,
        ref_mismatch=args.ref_mismatch,
        rc_average=not args.no_rc_average,
        contributions=args.contributions,
        batch_size=args.batch_size,
    )
    write_h5ad_atomic(vdata, Path(args.output))
    logger.info("wrote %s (%d variants x %d outputs)", args.output, vdata.n_obs, vdata.n_vars)
    if args.tsv:
        with atomic_path(args.tsv) as tmp:
            variant_table(vdata).to_csv(tmp, sep="\t", index_label="variant", na_rep="NA")
        logger.info("wrote %s", args.tsv)


def variant_table(vdata):
    """One row per variant: its obs columns, then ``<output>_ref``, ``<output>_alt``, ``<output>_delta``."""
    import pandas as pd

    from . import _keys as K

    columns = {}
    for j, out in enumerate(vdata.var_names):
        for layer in (K.VARIANT_REF, K.VARIANT_ALT, K.VARIANT_DELTA):
            columns[f"{out}_{layer}"] = vdata.layers[layer][:, j]
    return pd.concat([vdata.obs, pd.DataFrame(columns, index=vdata.obs_names)], axis=1)


# -- tracks -----------------------------------------------------------------------------------------
def tracks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="regions .h5ad after predict (and optionally contributions / motifs)")
    p.add_argument("--out", "-o", "--output", dest="out", required=True, help="output folder for the track files")
    p.add_argument("--predictions", nargs="*", default=None, help="prediction columns (default: all)")
    p.add_argument("--contributions", nargs="*", default=None, help="cell types of stored contributions (default: all)")
    p.add_argument("--seqlets", nargs="*", default=None, help="cell types of tl.motifs seqlets (default: all)")
    p.add_argument(
        "--genome", default=None, help="FASTA path or genomepy name for chromosome sizes (default: recorded)"
    )
    p.add_argument("--format", default="bigwig", choices=["bigwig", "bedgraph"], help="format of the signal tracks")


def tracks(args: argparse.Namespace) -> None:
    from . import _keys as K
    from . import io
    from ._io_utils import read_h5ad_checked
    from .store import motif_results

    adata = read_h5ad_checked(Path(args.input))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".bw" if args.format == "bigwig" else ".bedgraph"
    uns = adata.uns.get(K.UNS, {})
    preds = adata.obsm[K.PRED].columns if K.PRED in adata.obsm else []
    predictions = list(preds) if args.predictions is None else args.predictions
    contribs = list(uns.get(K.UNS_CONTRIB, {})) if args.contributions is None else args.contributions
    seqlets = (
        [c for c, m in motif_results(adata).items() if K.UNS_SEQLETS in m] if args.seqlets is None else args.seqlets
    )
    if not (predictions or contribs or seqlets):
        raise ValueError(f"{args.input} has no predictions, contributions or seqlets: run chromseq predict first.")
    for col in predictions:
        io.write_predictions(adata, out / f"pred_{col}{suffix}", col, genome=args.genome)
    for ct in contribs:
        io.write_contributions(adata, out / f"contrib_{ct}{suffix}", ct, genome=args.genome)
    for ct in seqlets:
        io.write_seqlets(adata, out / f"seqlets_{ct}.bed", ct)
    logger.info("wrote %d track files to %s", len(predictions) + len(contribs) + len(seqlets), out)
