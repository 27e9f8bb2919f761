"""The ``chromseq`` subcommands as one table: name, help, arguments, function, example.

:mod:`chromseq.cli` builds its parser from :data:`COMMANDS` and nothing else; the functions live in
:mod:`chromseq._cli_steps`, :mod:`chromseq._cli_variants` and :mod:`chromseq._cli_design`. Importing this module loads neither
torch nor anndata (``chromseq --help`` stays fast).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from . import _cli_design as designs
from . import _cli_steps as steps
from . import _cli_variants as variants


@dataclass(frozen=True)
class Subcommand:
    """One subcommand of the ``chromseq`` command line.

    Attributes
    ----------
    name
        What the user types after ``chromseq``.
    help
        One line, shown in ``chromseq --help`` and as the subcommand's description.
    add_args
        Adds the subcommand's own arguments to its parser.
    func
        Runs the subcommand on the parsed arguments; raises ``ValueError``/``KeyError``/``OSError``
        on bad input (the command line prints them as one line and exits with 1).
    example
        The epilog of ``chromseq <name> --help``.
    trains
        Whether it trains models (checkpointed every epoch; ``--resume`` continues it).
    """

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    func: Callable[[argparse.Namespace], None]
    example: str
    trains: bool = False


_TABLE = (
    Subcommand(
        "demo",
        "run the whole path on the bundled chr20 data of six cell lines",
        steps.demo_args,
        steps.demo,
        "example: chromseq demo --out demo_out",
    ),
    Subcommand(
        "prepare",
        "peaks/labels + genome -> regions x cell types .h5ad with sequences and splits",
        steps.prepare_args,
        steps.prepare,
        "example: chromseq prepare --regions K562=K562.bed HepG2=HepG2.narrowPeak --genome hg38.fa "
        "--background 10000 --val chr8 --test chr2 chr3 -o regions.h5ad",
    ),
    Subcommand(
        "pretrain",
        "train the cell-type agnostic model (open anywhere vs background)",
        steps.pretrain_args,
        steps.pretrain,
        "example: chromseq pretrain regions.h5ad -o pretrained.h5ad --preset tiny --save-dir models",
        trains=True,
    ),
    Subcommand(
        "finetune",
        "fine-tune the pretrained model per cell type (frozen body, then all layers)",
        steps.finetune_args,
        steps.finetune,
        "example: chromseq finetune pretrained.h5ad -o finetuned.h5ad --celltype K562 HepG2; from the published "
        "model: chromseq finetune regions.h5ad -o finetuned.h5ad --celltype K562 --base model_compiled.h5",
        trains=True,
    ),
    Subcommand(
        "train",
        "train the same network from scratch per cell type (baseline)",
        steps.train_args,
        steps.train,
        "example: chromseq train pretrained.h5ad -o scratch.h5ad --celltype K562",
        trains=True,
    ),
    Subcommand(
        "predict",
        "predict accessibility with trained models",
        steps.predict_args,
        steps.predict,
        "example: chromseq predict new_regions.h5ad -o predicted.h5ad --models finetuned.h5ad",
    ),
    Subcommand(
        "evaluate",
        "AUROC/AUPRC/F1 per model, cell type and split, with composition baselines",
        steps.evaluate_args,
        steps.evaluate,
        "example: chromseq evaluate predicted.h5ad -o evaluated.h5ad --csv metrics.csv",
    ),
    Subcommand(
        "contributions",
        "per-base contribution scores (DeepLIFT/SHAP, ISM, grad x input)",
        steps.contributions_args,
        steps.contributions,
        "example: chromseq contributions evaluated.h5ad -o contrib.h5ad --celltype K562 --split test",
    ),
    Subcommand(
        "motifs",
        "TF-MoDISco motifs from stored contributions, matched to JASPAR",
        steps.motifs_args,
        steps.motifs,
        "example: chromseq motifs contrib.h5ad -o motifs.h5ad --celltype K562",
    ),
    Subcommand(
        "report",
        "figures and a markdown report from an evaluated .h5ad",
        steps.report_args,
        steps.report,
        "example: chromseq report motifs.h5ad --out report/",
    ),
    Subcommand(
        "variants",
        "score VCF variants: ref/alt accessibility and delta per cell type",
        variants.variants_args,
        variants.variants,
        "example: chromseq variants my.vcf.gz --models finetuned.h5ad --genome 20.fa.gz -o v.h5ad --tsv v.tsv",
    ),
    Subcommand(
        "design",
        "design sequences for a cell type with a trained model: in-silico evolution or motif implantation",
        designs.design_args,
        designs.design,
        "example: chromseq design finetuned.h5ad --celltype K562 --objective specific --start 20 -o designs.h5ad "
        "--fasta designs.fa",
    ),
    Subcommand(
        "tracks",
        "genome-browser tracks: predictions and contributions (bigWig), seqlets (BED)",
        variants.tracks_args,
        variants.tracks,
        "example: chromseq tracks motifs.h5ad --out tracks/ --genome 20.fa.gz",
    ),
)

#: The subcommands by name, in the order ``chromseq --help`` lists them.
COMMANDS: dict[str, Subcommand] = {c.name: c for c in _TABLE}
