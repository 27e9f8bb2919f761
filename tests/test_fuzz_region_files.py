"""Fuzzed region files: every outcome is a success or a ValueError naming the file and the line (issue 11).

A seeded few hundred mutations of BED, narrowPeak and ChromTransfer label files (BED6+1 and CSV):
bytes flipped, inserted or deleted, lines duplicated, dropped or truncated, fields swapped, numbers
made huge, negative or fractional, header lines and CRLF endings put in.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chromseq as cs

N_FILES = 300
#: Errors that concern the whole file, not a line of it.
WHOLE_FILE = ("has no regions",)


def _seed_files(rng: np.random.Generator) -> dict[str, list[str]]:
    starts = np.sort(rng.choice(np.arange(1_000, 5_000_000, 1_000), 12, replace=False))
    labels = rng.choice(["K562", "K562_NEG", "Negative"], len(starts))
    return {
        "bed": [f"chr20\t{s}\t{s + 400}\tpeak{i}\t{i * 10}\t+" for i, s in enumerate(starts)],
        "narrowPeak": [
            f"chr20\t{s}\t{s + 400}\tp{i}\t0\t.\t{5 + i}\t{3 + i}\t2.5\t{150 + i}" for i, s in enumerate(starts)
        ],
        "labels": [
            f"chr20\t{s}\t{s + 600}\tr{i}\t0\t+\t{lab}" for i, (s, lab) in enumerate(zip(starts, labels, strict=True))
        ],
        "csv": [f"chr20:{s}-{s + 600},{lab}" for s, lab in zip(starts, labels, strict=True)],
    }


_ALPHABET = list("\t \n\r,:-+.0123456789acgtnrchXY_#") + ["\x00", "é", "track ", "1e400", "99999999999999999999"]


def _mutate(lines: list[str], rng: np.random.Generator) -> bytes:
    lines = list(lines)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(len(lines))) if lines else 0
        kind = int(rng.integers(11))
        if not lines:
            lines.append("")
        line = lines[i]
        pos = int(rng.integers(len(line) + 1))
        if kind == 0:  # insert a character or token
            lines[i] = line[:pos] + str(rng.choice(_ALPHABET)) + line[pos:]
        elif kind == 1 and line:  # delete a character
            lines[i] = line[:pos] + line[pos + 1 :]
        elif kind == 2:  # duplicate a line
            lines.insert(i, line)
        elif kind == 3 and len(lines) > 1:  # drop a line
            del lines[i]
        elif kind == 4:  # swap two fields
            sep = "\t" if "\t" in line else ","
            fields = line.split(sep)
            a, b = rng.integers(len(fields), size=2)
            fields[a], fields[b] = fields[b], fields[a]
            lines[i] = sep.join(fields)
        elif kind == 5:  # a number made huge, negative, fractional or empty
            numbers = list(re.finditer(r"\d+", line))
            if numbers:
                m = numbers[int(rng.integers(len(numbers)))]
                new = str(rng.choice(["-5", "3.5", "", "1e5", "18446744073709551617", "0"]))
                lines[i] = line[: m.start()] + new + line[m.end() :]
        elif kind == 6:  # header or comment line in the middle
            lines.insert(i, str(rng.choice(["track name=x", "# comment", "browser position chr20", ""])))
        elif kind == 7:  # chromosome name damaged
            lines[i] = str(rng.choice(["chr20chr20", "1000000", "chtrack xr20", "chr 20", "*", ""])) + line[5:]
        elif kind == 8:  # CRLF endings
            lines = [ln + "\r" for ln in lines]
        elif kind == 9:  # a raw byte that is not UTF-8
            return ("\n".join(lines) + "\n").encode()[:pos] + bytes([int(rng.integers(128, 256))])
        else:  # truncated file
            text = "\n".join(lines) + "\n"
            return text[: int(rng.integers(len(text) + 1))].encode()
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")


def _check_success(adata) -> None:
    assert adata.n_obs > 0
    assert (adata.obs["start"].to_numpy() >= 0).all()
    assert (adata.obs["start"].to_numpy() < adata.obs["end"].to_numpy()).all()
    x = np.asarray(adata.X)
    assert np.isin(x[~np.isnan(x)], [0, 1]).all()


def test_every_fuzzed_region_file_reads_or_fails_naming_file_and_line(tmp_path):
    rng = np.random.default_rng(20261129)
    seeds = _seed_files(rng)
    kinds = list(seeds)
    outcomes = {"read": 0, "error": 0}
    surprises = []
    for n in range(N_FILES):
        kind = kinds[n % len(kinds)]
        path = tmp_path / f"f{n}.{'csv' if kind == 'csv' else 'bed'}"
        path.write_bytes(_mutate(seeds[kind], rng))
        try:
            adata = cs.pp.read_regions({"K562": path}, merge="exact")
        except ValueError as err:
            text = str(err)
            names_line = re.search(r"\blines? \[?\d+", text) is not None
            if str(path) not in text or not (names_line or any(w in text for w in WHOLE_FILE)):
                surprises.append(f"{path.name} ({kind}): ValueError without file and line: {text[:300]}")
            outcomes["error"] += 1
        except Exception as err:  # noqa: BLE001 (the point: nothing else may escape)
            surprises.append(f"{path.name} ({kind}): {type(err).__name__}: {str(err)[:300]}")
        else:
            _check_success(adata)
            outcomes["read"] += 1
    assert not surprises, "\n".join(surprises)
    assert outcomes["read"] > 20 and outcomes["error"] > 20, outcomes  # the fuzzer hits both sides


@pytest.mark.parametrize("merge", ["overlap"])
def test_fuzzed_peak_files_survive_consensus_merging(tmp_path, merge):
    rng = np.random.default_rng(7)
    seeds = _seed_files(rng)
    for n in range(40):
        kind = ("bed", "narrowPeak")[n % 2]
        path = tmp_path / f"p{n}.bed"
        path.write_bytes(_mutate(seeds[kind], rng))
        try:
            _check_success(cs.pp.read_regions({"K562": path}, merge=merge))
        except ValueError as err:
            assert str(path) in str(err), str(err)


@pytest.mark.parametrize(("kind", "value"), [("narrowPeak", "signalValue"), ("bed", "score")])
def test_fuzzed_values_read_as_finite_non_negative_or_fail_naming_file_and_line(tmp_path, kind, value):
    """value= reads a quantity: every outcome is finite values >= 0 in X, or a ValueError naming file and line."""
    rng = np.random.default_rng(20261208)
    seeds = _seed_files(rng)
    outcomes = {"read": 0, "error": 0}
    for n in range(60):
        path = tmp_path / f"v{n}.bed"
        path.write_bytes(_mutate(seeds[kind], rng))
        try:
            adata = cs.pp.read_regions({"K562": path}, merge="exact", value=value)
        except ValueError as err:
            text = str(err)
            assert str(path) in text, text
            has_line = re.search(r"\blines? \[?\d+", text) or any(w in text for w in WHOLE_FILE)
            assert has_line or "column" in text, text
            outcomes["error"] += 1
        else:
            x = np.asarray(adata.X)
            assert np.isfinite(x).all() and (x >= 0).all()
            outcomes["read"] += 1
    assert outcomes["read"] > 5 and outcomes["error"] > 5, outcomes
