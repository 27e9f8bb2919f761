"""AnnData key names used by chromseq, defined once.

Every function in chromseq reads and writes AnnData fields through these
constants; no key string is spelled twice in the code base.

========================= =====================  ==================================================
where                     constant               content
========================= =====================  ==================================================
``obs_names``                                    ``chrom:start-end`` (0-based, half-open)
``obs['chrom']``          :data:`CHROM`          categorical chromosome name, as read
``obs['start']``          :data:`START`          int64 start of the region (bp, 0-based)
``obs['end']``            :data:`END`            int64 end of the region (bp, half-open)
``obs['split']``          :data:`SPLIT`          categorical ``train``/``val``/``test``
``obs['open']``           :data:`OPEN`           bool, accessible in some cell type
``obs['background']``     :data:`BACKGROUND`     bool, sampled as closed-chromatin background
``obs['gc']``             :data:`GC`             float GC fraction of the model input window
``layers['signal']``      :data:`SIGNAL`         optional continuous accessibility
``obsm['sequence']``      :data:`SEQUENCE`       uint8 codes (n_obs, width), A0 C1 G2 T3 N4
``obsm['chromseq_pred']`` :data:`PRED`           DataFrame of predicted probabilities
``uns['chromseq']``       :data:`UNS`            dict with ``genome``, ``models``, ``metrics``, ``motifs``,
                                                 ``contributions`` (only the rows computed, by obs name),
                                                 ``transforms`` (how targets were normalized)
========================= =====================  ==================================================
"""

from __future__ import annotations

CHROM = "chrom"
START = "start"
END = "end"
SPLIT = "split"
OPEN = "open"
BACKGROUND = "background"
GC = "gc"

SIGNAL = "signal"

#: What a model learns: binary labels (1/0/NaN) or a quantity (``tl.pretrain``/``finetune``/``train`` ``task=``).
TASKS = ("classification", "regression")
#: Training losses: ``bce`` (classification) and the regression losses (see ``chromseq.train``).
LOSSES = ("bce", "mse", "poisson", "mse_cosine")
#: uns[UNS][UNS_TRANSFORMS][source]: how ``pp.normalize_targets`` transformed the targets of ``source``
#: (``'X'`` or a layer name): ``{method, description, ...}``; read by the training verbs into the model record.
UNS_TRANSFORMS = "transforms"

SEQUENCE = "sequence"
PRED = "chromseq_pred"
#: obsm DataFrame of composition-baseline scores (``baseline_kmer_<target>`` columns), see ``tl.evaluate``.
BASELINE = "chromseq_baseline"
#: Legacy (read only): dense obsm['contrib_<name>'] (n_obs, 4, width), NaN where not computed.
CONTRIB_PREFIX = "contrib_"

UNS = "chromseq"
UNS_GENOME = "genome"
UNS_MODELS = "models"
UNS_METRICS = "metrics"
#: ``target`` of the metrics table's specificity rows (per region, across cell types; see ``tl.evaluate``).
SPECIFICITY = "specificity"
UNS_MOTIFS = "motifs"
UNS_CONTRIB = "contributions"
#: Inside uns[UNS][UNS_CONTRIB][<name>] (see ``tl.contributions``): obs names (str, n) of the regions
#: computed and their hypothetical scores (n, 4, width).
CONTRIB_OBS_NAMES = "obs_names"
CONTRIB_SCORES = "scores"
UNS_SEQLETS = "seqlets"
UNS_PARAMS = "params"
#: uns[UNS][UNS_PARAMS][PARAMS_DEMO]: how ``chromseq demo`` made this AnnData (preset, recipe, quick, ...).
PARAMS_DEMO = "demo"
#: uns[UNS][UNS_PREDICTIONS][column] = {model, kind, target, task, layer} for each obsm[PRED] column: ``task``
#: ``'classification'`` (probabilities) or ``'regression'`` (values in the target's units); ``layer`` the
#: layer the model's targets came from (``''``: ``X``). Entries without ``task`` are classification.
UNS_PREDICTIONS = "predictions"
#: uns[UNS][UNS_BASELINES][column]: fit record of each obsm[BASELINE] column.
UNS_BASELINES = "baselines"
#: uns[UNS][UNS_TRANSFER]: transfer-curve table (celltype, fraction, kind, metrics), see ``pl.transfer_curve``.
UNS_TRANSFER = "transfer"
#: uns[UNS][UNS_TRANSFER_INTERVALS]: cross-validated AUROC with block-bootstrap intervals, see ``pl.transfer_intervals``.
UNS_TRANSFER_INTERVALS = f"{UNS_TRANSFER}_intervals"
#: uns[UNS][UNS_SYNTHETIC]: ground truth of ``datasets.synthetic`` (motifs, pwms, planted sites, params).
UNS_SYNTHETIC = "synthetic"
#: uns[UNS][UNS_CRESTED]: record of a chromseq.io conversion, read by the inverse conversion (see ``io.to_crested``).
UNS_CRESTED = "crested"
#: Layer of a CREsted-style AnnData (see ``io.to_crested``) holding chromseq's labels when its X holds another layer.
CRESTED_LABELS = "chromseq_labels"
#: var column: number of cells aggregated into each cell type (see ``pp.aggregate_celltypes``).
N_CELLS = "n_cells"
#: Inside uns[UNS][UNS_MOTIFS][<celltype>] (see ``tl.motifs``): pattern table, TOMTOM matches, and
#: per-pattern matrices (name -> (4, width) arrays): contribution-weight, hypothetical CWM, probabilities.
MOTIF_PATTERNS = "patterns"
MOTIF_MATCHES = "matches"
MOTIF_CWM = "cwm"
MOTIF_HCWM = "hypothetical_cwm"
MOTIF_PPM = "ppm"
#: pattern -> (4, width) probabilities of its best database match, on the strand it matched.
MOTIF_MATCH_PPM = "match_ppm"

# -- variant AnnData of ``tl.score_variants`` (obs = variants, var = scored outputs) -----------------------------
#: layers: predictions of the reference and alternative windows (probabilities; a regression model's values), and
#: alt - ref (on the logit scale for classification, in the target's units for regression).
VARIANT_REF = "ref"
VARIANT_ALT = "alt"
VARIANT_DELTA = "delta"
#: obs: 1-based VCF position; variant kind (snv/mnv/insertion/deletion/other); why a variant was flagged or skipped.
POS = "pos"
VARIANT_KIND = "kind"
VARIANT_FLAG = "flag"
#: obs bool: the variant was scored (its layers hold numbers, not NaN).
VARIANT_SCORED = "scored"
#: obs bool: REF equals the genome at the variant.
REF_MATCH = "ref_match"
#: obs: the reference window (0-based half-open) on the variant's chromosome.
WINDOW_START = "window_start"
WINDOW_END = "window_end"
#: obsm: uint8 codes (n_variants, width) of the reference and alternative windows.
SEQUENCE_REF = "sequence_ref"
SEQUENCE_ALT = "sequence_alt"
#: uns[UNS][UNS_VARIANTS]: parameters of ``tl.score_variants``; var columns ``model``, ``output``.
UNS_VARIANTS = "variants"

SPLITS = ("train", "val", "test")

#: Integer code of each base in ``obsm['sequence']``.
BASE_CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}
ALPHABET = "ACGT"


def contrib_key(celltype: str) -> str:
    """Return the legacy ``.obsm`` key of dense contribution scores for ``celltype`` (read only).

    chromseq now stores contributions in ``uns['chromseq']['contributions']`` (see
    :func:`chromseq.tl.get_contributions`); files written before kept them under this key.

    Parameters
    ----------
    celltype
        Cell type (a ``var_name``) or model name.

    Returns
    -------
    The key, ``'contrib_<celltype>'``.
    """
    return f"{CONTRIB_PREFIX}{celltype}"


def variant_contrib_key(allele: str, output: str) -> str:
    """Return the ``.obsm`` key of a variant AnnData holding ``allele``'s contributions for ``output``.

    Parameters
    ----------
    allele
        ``'ref'`` or ``'alt'``.
    output
        A ``var_name`` of the variant AnnData (cell type or prediction column).

    Returns
    -------
    The key, ``'contrib_<allele>_<output>'``.
    """
    return f"{CONTRIB_PREFIX}{allele}_{output}"


# -- design AnnData of ``tl.design`` (obs = designed sequences, var = the model's outputs) ------------------------
#: obs: what each design started from (an obs name of the start AnnData, or ``random_<i>``), the method
#: (``evolve``/``implant``), the steps taken, and the objective (logit, or regression value/log-rate) at the start
#: and at the end.
DESIGN_SOURCE = "source"
DESIGN_METHOD = "method"
DESIGN_STEPS = "n_steps"
DESIGN_SCORE_START = "score_start"
DESIGN_SCORE = "score"
#: obs (``implant``): the best position (0-based bp of the motif's first base) and strand of the implanted motif.
DESIGN_POSITION = "motif_position"
DESIGN_STRAND = "motif_strand"
#: obsm: uint8 codes (n, width) of the start sequences (``obsm['sequence']`` holds the designs).
DESIGN_START_SEQUENCE = "design_start"
#: obsm: (n, steps + 1, n_outputs) float32 predictions of every model output at each step (probabilities for
#: classification), and (n, steps + 1) float32 objective at each step.
DESIGN_TRAJECTORY = "design_trajectory"
DESIGN_OBJECTIVE = "design_objective"
#: obsm (``implant``): (n, n_positions) float32 objective of the motif at each position tried (best strand).
DESIGN_POSITION_SCORES = "design_position_scores"
#: uns[UNS][UNS_DESIGN]: parameters of ``tl.design``: celltype, objective, method, model and its weights sha256.
UNS_DESIGN = "design"


def design_pred_key(output: str) -> str:
    """Return the ``obs`` column of a design AnnData holding the final prediction of ``output``.

    Parameters
    ----------
    output
        An output (cell type) of the model the sequences were designed with.

    Returns
    -------
    The column, ``'pred_<output>'``.
    """
    return f"pred_{output}"
