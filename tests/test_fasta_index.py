"""A FASTA index that does not fit its file is refused, never read as shifted sequence (issue 25, class 6).

Also the messages of a damaged index, duplicate names, a folder given as the genome and a damaged
bgzip file: one ``ValueError`` naming the file and the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

import chromseq as cs
from chromseq._codes import encode

LINE = 60


def _indexed(tmp_path, records, fasta_writer, *, bgzip: bool):
    path = fasta_writer(tmp_path / ("toy.fa.gz" if bgzip else "toy.fa"), records, line=LINE, bgzip=bgzip)
    cs.Genome(path)  # writes the .fai (and .gzi)
    return path


def _edit_fai(path, name: str, field: int, delta: int) -> None:
    fai = path.with_name(path.name + ".fai")
    rows = [line.split("\t") for line in fai.read_text().splitlines()]
    for row in rows:
        if row[0] == name:
            row[field] = str(int(row[field]) + delta)
    fai.write_text("".join("\t".join(r) + "\n" for r in rows))


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
@pytest.mark.parametrize(
    ("name", "field", "delta", "message"),
    [
        ("2", 2, 1, "its offset 1,027 is not the start of a line"),
        ("2", 2, -1, "its offset 1,025 is not the start of a line"),
        ("2", 2, LINE + 1, "its offset 1,087 does not follow the header line '>2'"),
        ("2", 2, -(LINE + 1), "its offset 965 is not the start of a line"),
        ("2", 1, -1, "the sequence goes on after 1,199 bases"),
        ("2", 1, -LINE, "the sequence goes on after 1,140 bases"),
        ("chr1", 1, -250, "the sequence goes on after 750 bases"),
        ("chr1", 1, 7, "its length 1,007 reaches into the next sequence"),
        ("MT", 1, 5, "the file ends after 250 of the 255 bases the index gives it"),
    ],
    ids=[
        "offset+1",
        "offset-1",
        "offset+line",
        "offset-line",
        "length-1",
        "length-line",
        "length-250",
        "length+7",
        "last-length+5",
    ],
)
def test_an_index_that_does_not_fit_the_file_is_refused(
    tmp_path, toy_records, fasta_writer, bgzip, name, field, delta, message
):
    path = _indexed(tmp_path, toy_records, fasta_writer, bgzip=bgzip)
    _edit_fai(path, name, field, delta)
    genome = cs.Genome(path)
    with pytest.raises(
        ValueError, match=rf"index of .*toy\.fa.* does not fit the file for sequence '{name}': {message}"
    ):
        genome.fetch(name, 0, 50)


def test_a_fitting_index_reads_every_sequence_exactly(tmp_path, toy_records, fasta_writer):
    for bgzip in (False, True):
        (tmp_path / str(bgzip)).mkdir()
        genome = cs.Genome(_indexed(tmp_path / str(bgzip), toy_records, fasta_writer, bgzip=bgzip))
        for name, seq in toy_records.items():
            assert np.array_equal(genome.chromosome(name), encode(seq))


def test_spaces_inside_sequence_lines_are_refused(tmp_path):
    path = tmp_path / "spaced.fa"
    path.write_text(">a\n" + "ACGTACGTAC\n" * 3 + ">b\nACGTA CGTA\nACGTACGTAC\n")
    genome = cs.Genome(path)
    assert genome.fetch("a", 0, 10).tolist() == encode("ACGTACGTAC").tolist()
    with pytest.raises(ValueError, match=r"spaced\.fa: sequence 'b' has spaces or tabs inside its sequence lines"):
        genome.fetch("b", 0, 10)


@pytest.mark.parametrize("fai", ["garbage here\n", "chr1\t10\tx\t60\t61\n", "chr1\t1000\n"])
def test_a_garbage_index_names_the_index_and_the_fix(tmp_path, toy_records, fasta_writer, fai):
    path = fasta_writer(tmp_path / "toy.fa", toy_records)
    path.with_name("toy.fa.fai").write_text(fai)
    with pytest.raises(ValueError, match=r"the FASTA index .*toy\.fa\.fai is damaged .*delete it \(chromseq rebuilds"):
        cs.Genome(path)


def test_duplicate_sequence_names_are_named(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nACGT\n>a\nGGGG\n")
    with pytest.raises(ValueError, match=r"dup\.fa names two sequences the same \(\"a\"\)"):
        cs.Genome(path)


def test_a_folder_given_as_the_genome_is_named_as_a_folder(tmp_path, toy_records, fasta_writer):
    fasta_writer(tmp_path / "hg.fa", toy_records)
    with pytest.raises(ValueError, match=r"is a folder, not a FASTA file: .*\(it holds hg\.fa\)"):
        cs.Genome(tmp_path)
    with pytest.raises(ValueError, match=r"is a folder"):
        cs.Genome(str(tmp_path) + "/")


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
@pytest.mark.parametrize("indexed", [False, True], ids=["no-index", "indexed"])
def test_a_damaged_bgzip_fasta_names_the_file(tmp_path, toy_records, fasta_writer, damage, indexed):
    records = {k: v * 40 for k, v in toy_records.items()}  # several bgzip blocks
    path = fasta_writer(tmp_path / "toy.fa.gz", records, bgzip=True)
    if indexed:
        cs.Genome(path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"toy\.fa\.gz.*(truncated or damaged|does not fit the file)"):
        genome = cs.Genome(path)
        for name in records:
            genome.chromosome(name)
