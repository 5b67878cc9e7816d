"""Costanzo 2016 strain identifiers: `<systematic name>_<kind><number>`, e.g. `YAL002W_dma1`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Suffix → (perturbation type, role in the screen).
STRAIN_KINDS: dict[str, tuple[str, str]] = {
    "dma": ("deletion", "array"),  # KanMX deletion mutant array
    "sn": ("deletion", "query"),  # NatMX deletion query
    "tsq": ("temperature_sensitive", "query"),
    "tsa": ("temperature_sensitive", "array"),
    "damp": ("damp", "array"),  # decreased abundance by mRNA perturbation
}
STRAIN_ID_PATTERN = re.compile(r"^(?P<gene>[^_\s]+)_(?P<kind>[a-z]+)(?P<number>\d+)$")


@dataclass(frozen=True)
class StrainId:
    systematic_name: str
    kind: str  # a key of STRAIN_KINDS
    number: int

    @property
    def perturbation_type(self) -> str:
        return STRAIN_KINDS[self.kind][0]

    def __str__(self) -> str:
        return f"{self.systematic_name}_{self.kind}{self.number}"


def parse_strain_id(text: str) -> StrainId:
    """Split a strain id; raises ValueError on an unknown suffix or a malformed id."""
    match = STRAIN_ID_PATTERN.match(text)
    if match is None:
        raise ValueError(f"malformed strain id {text!r} (expected e.g. 'YAL002W_dma1')")
    if match["kind"] not in STRAIN_KINDS:
        raise ValueError(f"unknown strain suffix {match['kind']!r} in {text!r} (known: {', '.join(STRAIN_KINDS)})")
    return StrainId(match["gene"], match["kind"], int(match["number"]))
