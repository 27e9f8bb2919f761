"""Model folders: ``model.safetensors`` (weights), ``config.json`` (config + card), ``README.md`` (card).

A folder is written under a temporary name and renamed into place, so a reader
never sees a half-written model. Nothing is unpickled when loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from chromseq._io_utils import disk_errors, honour_umask, replace_dir, temp_beside
from chromseq._metrics import kept_index
from chromseq._settings import logger

from ._costs import check_any_size
from ._guards import check_finite, config_sha256
from ._network import count_parameters
from ._protocol import ModelConfig, SequenceModel
from ._registry import FAMILIES, build, config_from_dict, family

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
FORMAT_VERSION = 1
#: Key in ``config.json`` of the SHA-256 over the config and the weights' hash (see :func:`config_sha256`).
FOLDER_HASH = "sha256"
_WARNED: set[str] = set()


def save_model(
    model: SequenceModel, path: str | os.PathLike, *, card: dict[str, Any] | None = None, overwrite: bool = True
) -> Path:
    """Save ``model`` to the folder ``path`` (replaced atomically if it exists and ``overwrite``).

    Parameters
    ----------
    model
        The network, of any registered family; its ``config`` (with ``arch``) is saved with the weights.
    path
        Destination folder.
    card
        JSON-safe metadata kept in ``config.json`` under ``'card'`` and rendered in
        ``README.md`` (e.g. kind, cell types, training-data fingerprint, history).
    overwrite
        Replace an existing folder ``path``; if ``False`` an existing one raises
        :class:`FileExistsError` (and is left as it was).

    Returns
    -------
    The folder's path. ``config.json`` keeps the SHA-256 of the weights file
    (``'weights_sha256'``), checked by :func:`load_model`.

    Examples
    --------
    >>> import tempfile
    >>> from chromseq.models import ChromTransfer, PRESETS, save_model, load_model
    >>> d = save_model(ChromTransfer(PRESETS["tiny"]), tempfile.mkdtemp() + "/m")
    >>> load_model(d).config.preset
    'tiny'
    """
    path = Path(path)
    card = dict(card or {})
    family(getattr(model.config, "arch", "?"))  # only a registered family can be loaded back: refuse others now
    meta = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "n_parameters": count_parameters(model),
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "card": card,
    }
    json.dumps(meta, indent=1, allow_nan=True)  # fails here (not JSON-safe), before anything is written
    if overwrite:
        check_replaceable(path)
    tmp = temp_beside(path)
    try:
        with disk_errors(path):
            state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
            save_file(state, tmp / WEIGHTS_FILE, metadata={"format": "pt", "chromseq_format": str(FORMAT_VERSION)})
            meta["weights_sha256"] = weights_sha256(tmp / WEIGHTS_FILE)
            meta[FOLDER_HASH] = config_sha256(meta["config"], meta["weights_sha256"])
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=1, allow_nan=True))
            (tmp / CARD_FILE).write_text(_render_card(meta))
            honour_umask(tmp)  # mkdtemp made it 0700 and safetensors the weights 0600
            replace_dir(tmp, path) if overwrite else _place_new(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def is_model_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by :func:`save_model` (its ``config.json`` has a format and a config)."""
    try:
        meta = json.loads((Path(path) / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and "format_version" in meta and isinstance(meta.get("config"), dict)


def check_replaceable(path: str | os.PathLike) -> None:
    """Raise unless ``path`` is free or a model folder chromseq wrote: nothing else is ever replaced.

    Raises
    ------
    ValueError
        ``path`` is a file, or a folder without a chromseq ``config.json`` (the user's data, a save_dir, ...).
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()) or (path.is_dir() and is_model_folder(path)):
        return
    what = "a folder" if path.is_dir() else "a file"
    raise ValueError(
        f"{str(path)!r} is {what} that chromseq did not write as a model folder (no chromseq {CONFIG_FILE} in it), "
        "so it is not replaced: move it away, or choose another model name or save_dir."
    )


def _place_new(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``; raise :class:`FileExistsError` if ``dst`` exists (it is kept)."""
    try:
        os.rename(src, dst)  # atomic; fails on an existing non-empty folder
    except OSError as err:
        if dst.exists():
            raise FileExistsError(
                f"model folder {str(dst)!r} already exists; pass overwrite=True to replace it, or save elsewhere."
            ) from err
        raise


def weights_sha256(path: str | os.PathLike) -> str:
    """``'sha256:<hex>'`` of the file ``path`` (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def check_config(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Raise if ``config.json`` of model folder ``path`` was edited after saving (its ``'sha256'`` differs).

    The checksum covers the config and ``weights_sha256``: an edited field (``bn_eps``, ``outputs``...)
    or a deleted ``weights_sha256`` no longer matches. Folders saved by chromseq before the checksum
    load with a warning (once per folder) that they are not verified.
    """
    file = Path(path) / CONFIG_FILE
    recorded = meta.get(FOLDER_HASH)
    if recorded is None:
        key = str(Path(path).absolute())
        if key not in _WARNED:
            _WARNED.add(key)
            what = "its weights are checked, its config" if meta.get("weights_sha256") else "its weights and config"
            logger.warning(
                "model folder %s was saved by an older chromseq: %s cannot be verified (no '%s' in %s); "
                "save it again (chromseq.models.save_model(load_model(path), path)) to add the checksum",
                path,
                what,
                FOLDER_HASH,
                CONFIG_FILE,
            )
        return
    if recorded != config_sha256(meta["config"], str(meta.get("weights_sha256") or "")):
        raise ValueError(
            f"{str(file)!r} was edited after the model was saved: its 'config' or 'weights_sha256' no longer match "
            f"the checksum {FOLDER_HASH!r} saved with them, so the network would not be the one trained. Restore the "
            "folder from a copy, or retrain the model."
        )


def check_weights(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Raise if the weights file of model folder ``path`` is not the one its ``config.json`` was saved with.

    Folders saved before chromseq recorded ``weights_sha256`` are not checked (see :func:`check_config`).
    """
    want = meta.get("weights_sha256")
    if not want:
        return
    file = Path(path) / WEIGHTS_FILE
    have = weights_sha256(file)
    if have != want:
        raise ValueError(
            f"weights file {str(file)!r} was changed or damaged after it was saved: its sha256 is {have}, "
            f"but {CONFIG_FILE} in the same folder records {want}. Restore the folder from a copy, or "
            "retrain the model."
        )


def read_model_card(path: str | os.PathLike) -> dict[str, Any]:
    """Return the metadata of the model folder ``path``: ``config``, ``n_parameters``, ``saved``, ``card``.

    Parameters
    ----------
    path
        A model folder written by :func:`save_model`.

    Returns
    -------
    The metadata as a plain dict, read without loading the weights.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a chromseq model folder.
    """
    path = Path(path)
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a chromseq model folder (expected {CONFIG_FILE} and {WEIGHTS_FILE} in it)."
        )
    meta = _read_meta(cfg_file)
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _damaged(cfg_file, f"has format_version {version!r}, expected an integer ({FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise ValueError(f"model folder {str(path)!r} was written by a newer chromseq; upgrade chromseq to load it.")
    return meta


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> SequenceModel:
    """Load a model saved by :func:`save_model`, in eval mode.

    Parameters
    ----------
    path
        Model folder.
    device
        Where to put the weights.

    Returns
    -------
    The network of the family its config's ``arch`` names (a config without one, as folders saved
    before families existed, is a :class:`~chromseq.models.ChromTransfer`), with its config; weights
    are read with safetensors (no unpickling).

    Raises
    ------
    ValueError
        If the weights file's SHA-256 differs from the one recorded in ``config.json``
        (a changed or damaged file), ``config.json`` was edited after saving, the config
        declares an implausibly large network, the weights do not fit the config, a weight
        holds NaN or infinity, or the config's ``arch`` is not a registered family.
    """
    meta = read_model_card(path)
    config = _config_of(meta, Path(path) / CONFIG_FILE)
    check_config(path, meta)
    check_any_size(config, repr(str(Path(path) / CONFIG_FILE)))  # before anything is allocated
    model = build(config)
    state = _read_weights(Path(path) / WEIGHTS_FILE)
    _fit_weights(model, state, Path(path))  # before the sha256: another model's weights are named as such
    check_weights(path, meta)
    check_finite(state, repr(str(Path(path) / WEIGHTS_FILE)))
    return model.to(device).eval()


# -- damaged folders: each reader says which file is wrong and what to do ------------------
def _damaged(file: Path, problem: str) -> ValueError:
    return ValueError(
        f"model folder {str(file.parent)!r} is damaged: {file.name} {problem}. Save the model again (retrain it, "
        "or copy the folder back from where it came from)."
    )


def _read_meta(file: Path) -> dict[str, Any]:
    """Return the JSON object of ``config.json``; raise a :class:`ValueError` naming the file if it is damaged."""
    try:
        meta = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise _damaged(file, "is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise _damaged(file, f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(meta, dict):
        raise _damaged(file, f"holds a JSON {type(meta).__name__}, not an object")
    if not isinstance(meta.get("config"), dict):
        raise _damaged(file, "has no 'config' entry (the network's configuration)")
    return meta


def _config_of(meta: dict[str, Any], file: Path) -> ModelConfig:
    """Return the config of ``meta`` (any registered family); raise a :class:`ValueError` naming ``file`` if invalid."""
    arch = meta["config"].get("arch", "chromtransfer")
    if arch not in FAMILIES:
        raise ValueError(
            f"model folder {str(file.parent)!r} holds a network of architecture {arch!r}, which this chromseq does "
            f"not know (known: {sorted(FAMILIES)}): upgrade chromseq to the version that saved it."
        )
    try:
        return config_from_dict(meta["config"])
    except (TypeError, ValueError) as err:
        raise _damaged(file, f"holds an invalid 'config': {str(err).rstrip('.')}") from None


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (nothing unpickled); raise a :class:`ValueError` naming it if it is damaged."""
    from safetensors import SafetensorError

    try:
        return load_file(file, device="cpu")
    except (SafetensorError, OSError) as err:
        raise _damaged(file, f"is not a readable safetensors file ({err})") from None


def _fit_weights(model: SequenceModel, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state`` into ``model``; a :class:`ValueError` when the weights do not fit the config."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or resized:
        raise ValueError(
            f"weights in {str(path / WEIGHTS_FILE)!r} do not fit the config in {CONFIG_FILE} (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}, other shape {resized[:3]}): the two files come from "
            "different models. Save the model again, or copy both files from the same folder."
        )
    model.load_state_dict(state)


def _render_card(meta: dict[str, Any]) -> str:
    cfg, card = meta["config"], meta["card"]
    fam = FAMILIES[cfg.get("arch", "chromtransfer")]
    lines = [
        f"# chromseq model: {card.get('name', fam.network.__name__)}",
        "",
        f"{fam.description}, saved by chromseq.",
        "",
        f"- architecture: `{fam.arch}`",
        f"- preset: `{cfg['preset']}`; {_widths(cfg)}input width {cfg['seq_len']} bp",
        f"- head: {cfg['head']}; outputs: {', '.join(cfg['outputs'])}",
        f"- parameters: {meta['n_parameters']:,}",
        f"- saved: {meta['saved']}",
    ]
    for key in ("kind", "target", "base", "fingerprint", "chromseq_version"):
        if key in card:
            lines.append(f"- {key}: {card[key]}")
    lines += _regression_lines(card)
    if meta.get("weights_sha256"):
        lines.append(f"- weights ({WEIGHTS_FILE}): {meta['weights_sha256']}")
    hist = card.get("history") or {}
    if hist.get("epoch"):
        monitor = str((card.get("params") or {}).get("monitor", "val_loss"))
        monitor = monitor if hist.get(monitor) else "val_loss"
        best = hist[monitor][kept_index(hist, card.get("params") or {})]
        lines.append(f"- epochs trained: {len(hist['epoch'])}; best {monitor} (kept): {best:.4g}")
    lines += ["", "Load with `chromseq.models.load_model(path)` (safetensors; nothing is unpickled).", ""]
    return "\n".join(lines)


def _regression_lines(card: dict[str, Any]) -> list[str]:
    """Return the card's lines on a regression model's task, loss and targets (none for classification)."""
    if card.get("task") != "regression":
        return []
    loss = card.get("loss") or "mse"
    units = "rates (exp of the output)" if loss == "poisson" else "values (the output)"
    layer = card.get("target_layer")
    lines = [f"- task: regression; loss: {loss}; predictions: {units} in the target's units"]
    lines.append(
        f"- targets: {f'layers[{layer!r}]' if layer else 'X'}; transform: {card.get('target_transform') or 'as read'}"
    )
    return lines


def _widths(cfg: dict[str, Any]) -> str:
    """Return the card's size note: ChromTransfer's inner filter count F, or nothing."""
    return f"inner filters F = {cfg['inner_filters']}; " if "inner_filters" in cfg else ""
