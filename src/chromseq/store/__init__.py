"""What the verbs store in AnnData, read and written in one place (internal, not part of the public API).

The verbs of :mod:`chromseq.tl` write their results through this package; :mod:`chromseq.pl`,
:mod:`chromseq.io`, the report and the command line read them through it, so that no reader
depends on a verb's module.

- ``_record``: :class:`ModelRecord`, one model's record in ``uns['chromseq']['models']``, typed.
- ``_models``: the recorded models (names, records, their folders, loading one).
- ``_targets``: evaluation targets, their labels, and the prediction columns of ``obsm['chromseq_pred']``.
- ``_contributions``: contribution scores in ``obsm``/``uns['chromseq']['contributions']``.
- ``_transforms``: how the targets of ``X`` or a layer were normalized (``uns['chromseq']['transforms']``).
- ``_baselines``: composition-baseline scores in ``obsm['chromseq_baseline']`` (classification and ridge).
- ``_values``: the prediction columns of one task, and the groups scored for cell-type specificity.
- ``_motifs``: motif patterns, matches and seqlets in ``uns['chromseq']['motifs']``.
- ``_units``: what a model's numbers mean (:class:`Units`: logits/probabilities, values, rates).
"""

from __future__ import annotations

from ._baselines import (
    BASELINE_GC,
    BASELINE_KIND,
    BASELINE_KMER,
    BASELINE_RIDGE,
    baseline_sources,
    gc_scores,
    kmer_column,
    regression_baseline_sources,
    ridge_column,
    write_baselines,
)
from ._contributions import get_contributions, stored_contributions, write_contributions
from ._models import (
    ModelKind,
    get_model,
    get_record,
    load_recorded,
    model_name,
    models_of,
    output_index,
    record_path,
    records_of,
    write_record,
)
from ._motifs import MATCH_QVAL, information_content, motif_result, motif_results, stored_seqlets, write_motifs
from ._record import ModelRecord
from ._targets import (
    KIND_ORDER,
    ScoreSource,
    has_labels,
    kind_rank,
    labels,
    prediction_meta,
    prediction_sources,
    resolve_targets,
    select_predictions,
    targets_of,
    write_predictions,
)
from ._transforms import X_SOURCE, applied_steps, source_name, target_transform, transform_record, write_transform
from ._units import Units, prediction_units, units_of
from ._values import PER_CELLTYPE, regression_meta, specificity_groups, task_predictions

__all__ = [
    "MATCH_QVAL",
    "BASELINE_GC",
    "BASELINE_KIND",
    "BASELINE_KMER",
    "BASELINE_RIDGE",
    "baseline_sources",
    "has_labels",
    "regression_baseline_sources",
    "ridge_column",
    "gc_scores",
    "information_content",
    "kmer_column",
    "motif_result",
    "motif_results",
    "stored_seqlets",
    "write_baselines",
    "write_motifs",
    "write_predictions",
    "write_record",
    "KIND_ORDER",
    "ModelKind",
    "ModelRecord",
    "ScoreSource",
    "get_contributions",
    "get_model",
    "get_record",
    "kind_rank",
    "labels",
    "load_recorded",
    "model_name",
    "models_of",
    "output_index",
    "prediction_meta",
    "prediction_sources",
    "record_path",
    "records_of",
    "resolve_targets",
    "select_predictions",
    "stored_contributions",
    "targets_of",
    "write_contributions",
    "Units",
    "prediction_units",
    "units_of",
    "X_SOURCE",
    "applied_steps",
    "source_name",
    "target_transform",
    "transform_record",
    "write_transform",
    "PER_CELLTYPE",
    "regression_meta",
    "specificity_groups",
    "task_predictions",
]
