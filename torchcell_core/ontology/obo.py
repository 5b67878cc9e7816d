"""Reader for the Gene Ontology `go-basic.obo` release file (OBO flat file format 1.2).

Only `[Term]` stanzas are read: id, name, namespace, alt_id, is_obsolete, `is_a` and
`relationship: part_of`. Other stanzas (`[Typedef]`) and other relationships (regulates,
has_part, ...) are skipped. Errors name the file and the 1-based line.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from torchcell_core.errors import SourceFormatError
from torchcell_core.ontology.dag import NAMESPACES, GoDag, GoEdge, GoTerm
from torchcell_core.sources.validation import first_non_utf8_line, open_binary

GO_ID = re.compile(r"GO:\d{7}")
# The GO id that starts a tag value, before any `{modifiers}` or `! comment`.
_LEADING_ID = re.compile(r"^(GO:\d{7})(?:\s|$|\{|!)")
_STANZA = re.compile(r"^\[(?P<kind>[^\]]+)\]\s*$")
_HEADER_KEYS = ("format-version", "data-version", "date", "ontology", "default-namespace")


@dataclass
class _Stanza:
    line: int
    go_id: str | None = None
    name: str = ""
    namespace: str | None = None
    namespace_line: int = 0
    is_obsolete: bool = False
    alt_ids: list[tuple[str, int]] = field(default_factory=list)
    edges: list[tuple[str, str, int]] = field(default_factory=list)  # (parent, relation, line)


def _open_text(path: Path):
    """The file as text; `utf-8-sig` drops a leading byte order mark, which would hide `format-version`."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def _leading_go_id(path: Path, value: str, line: int, tag: str) -> str:
    match = _LEADING_ID.match(value)
    if match is None:
        raise SourceFormatError(path, f"expected a GO id (GO:nnnnnnn), found {value!r}", line, tag)
    return match.group(1)


def _read_tag(path: Path, stanza: _Stanza, tag: str, value: str, line: int) -> None:
    if tag == "id":
        if stanza.go_id is not None:
            raise SourceFormatError(path, "a [Term] has two id lines", line, tag)
        if not GO_ID.fullmatch(value):
            raise SourceFormatError(path, f"term id {value!r} is not a GO id", line, tag)
        stanza.go_id = value
    elif tag == "name":
        stanza.name = value
    elif tag == "namespace":
        stanza.namespace, stanza.namespace_line = value, line
    elif tag == "alt_id":
        stanza.alt_ids.append((_leading_go_id(path, value, line, tag), line))
    elif tag == "is_obsolete":
        if value not in ("true", "false"):
            raise SourceFormatError(path, f"is_obsolete must be true or false, found {value!r}", line, tag)
        stanza.is_obsolete = value == "true"
    elif tag == "is_a":
        stanza.edges.append((_leading_go_id(path, value, line, tag), "is_a", line))
    elif tag == "relationship":
        relation, _, target = value.partition(" ")
        if relation == "part_of":
            stanza.edges.append((_leading_go_id(path, target.strip(), line, tag), "part_of", line))


def _finish(path: Path, stanza: _Stanza, default_namespace: str | None) -> GoTerm:
    if stanza.go_id is None:
        raise SourceFormatError(path, "[Term] stanza without an id line", stanza.line, "id")
    namespace = stanza.namespace or default_namespace
    if namespace not in NAMESPACES:
        line = stanza.namespace_line or stanza.line
        raise SourceFormatError(path, f"{stanza.go_id}: namespace {namespace!r} is not one of {NAMESPACES}", line)
    return GoTerm(stanza.go_id, stanza.name, namespace, stanza.is_obsolete)


def read_obo(path: str | Path) -> GoDag:
    """Parse a `go-basic.obo` file (plain or `.gz`) into a GoDag.

    The header's `data-version` and `date` go to the DAG's metadata (`go_release` is the
    data-version without its `releases/` prefix). Edges to undefined terms are errors.
    """
    path = Path(path)
    header: dict[str, str] = {}
    stanzas: list[_Stanza] = []
    current: _Stanza | None = None
    in_header = True
    try:
        with _open_text(path) as handle:
            for number, raw in enumerate(handle, start=1):
                text = raw.strip()
                if not text or text.startswith("!"):
                    continue
                heading = _STANZA.match(text)
                if heading is not None:
                    in_header = False
                    current = _Stanza(number) if heading["kind"] == "Term" else None
                    if current is not None:
                        stanzas.append(current)
                    continue
                tag, colon, value = text.partition(":")
                if not colon:
                    raise SourceFormatError(path, f"expected 'tag: value', found {text!r}", number)
                tag, value = tag.strip(), value.strip()
                if in_header:
                    if tag in _HEADER_KEYS:
                        header.setdefault(tag, value)
                elif current is not None:
                    _read_tag(path, current, tag, value, number)
    except UnicodeDecodeError as error:
        opener = gzip.open if path.suffix == ".gz" else open_binary
        raise SourceFormatError(path, f"not UTF-8 ({error.reason})", first_non_utf8_line(path, opener)) from None

    default_namespace = header.get("default-namespace")
    terms: dict[str, GoTerm] = {}
    alt_ids: dict[str, str] = {}
    for stanza in stanzas:
        term = _finish(path, stanza, default_namespace)
        if term.go_id in terms:
            raise SourceFormatError(path, f"{term.go_id} is defined twice", stanza.line, "id")
        terms[term.go_id] = term
        for alt, line in stanza.alt_ids:
            if alt in alt_ids:
                raise SourceFormatError(path, f"alt id {alt} is claimed by two terms", line, "alt_id")
            alt_ids[alt] = term.go_id
    for stanza in stanzas:
        for alt, line in stanza.alt_ids:
            if alt in terms:
                raise SourceFormatError(path, f"alt id {alt} is also the id of a [Term]", line, "alt_id")
        for parent, relation, line in stanza.edges:
            if parent not in terms:
                tag = "is_a" if relation == "is_a" else "relationship"
                raise SourceFormatError(path, f"{parent} is not defined by any [Term]", line, tag)
    edges = [GoEdge(s.go_id, parent, relation) for s in stanzas for parent, relation, _ in s.edges]
    metadata = {"source_format": "OBO", "source_file": path.name}
    for key in ("format-version", "data-version", "date"):
        if key in header:
            metadata[key.replace("-", "_")] = header[key]
    if "data-version" in header:
        metadata["go_release"] = header["data-version"].removeprefix("releases/")
    try:
        return GoDag(terms.values(), edges, alt_ids, metadata)
    except ValueError as error:
        raise SourceFormatError(path, str(error)) from error
