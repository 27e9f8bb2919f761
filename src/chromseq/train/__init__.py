"""The training core: the one training loop and its torch-only helpers (private modules).

Nothing here touches AnnData; the verbs in :mod:`chromseq.tl` turn AnnData into
:class:`~chromseq.data.SequenceDataset` objects and call :func:`chromseq.train._engine.fit`.
``_spec`` (:class:`TrainSpec`), ``_engine`` (the loop), ``_batches``, ``_acceleration``,
``_checkpoint``, ``_distributed``, ``_loss``, ``_inference`` and ``_runs`` (model folders,
run locks). Imports only :mod:`chromseq.data`, :mod:`chromseq.models` and the shared helpers.
"""
