"""Copy a cross-validated ``benchmarks/transfer.py`` result into the package as the demo report's reference.

    python scripts/update_cv_reference.py benchmarks/results/cv/w200_fast_cv5_s3

Writes ``src/chromseq/datasets/_data/cv_reference/<preset>.json``: the run's settings (from its
``transfer_cv.json``) and its interval table (``transfer_cv_intervals.csv``, every cell type and the
mean). ``chromseq demo`` cites it in its report when it runs that preset on the bundled chr20 data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

TARGET = Path(__file__).resolve().parents[1] / "src" / "chromseq" / "datasets" / "_data" / "cv_reference"
SETTINGS = ("preset", "width", "cv", "unit", "n_units", "seeds", "celltypes", "config_changes", "pretrain", "runs")


def main(argv: list[str] | None = None) -> None:
    """Read the result folder and write the reference JSON of its preset."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("result", type=Path, help="a benchmarks/transfer.py --cv output folder")
    args = p.parse_args(argv)
    info = json.loads((args.result / "transfer_cv.json").read_text())
    if info.get("dataset") != "chr20" or info.get("background_per_open") is not None:
        raise SystemExit("the reference must be a run on the bundled chr20 data (--dataset chr20, bundled background)")
    intervals = pd.read_csv(args.result / "transfer_cv_intervals.csv")
    columns = ["celltype", "fraction", "kind", "estimate", "lower", "upper", "n_boot"]
    reference = {
        "source": args.result.as_posix(),
        "settings": {k: info[k] for k in SETTINGS if k in info},
        "intervals": intervals[columns].round(4).to_dict(orient="records"),
    }
    TARGET.mkdir(parents=True, exist_ok=True)
    out = TARGET / f"{info['preset']}.json"
    out.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
