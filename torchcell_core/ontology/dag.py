"""The Gene Ontology as a typed DAG: terms, child -> parent edges (`is_a`, `part_of`), alt ids.

Saved as one gzipped JSON document (`save` / `load`, layout in `_FORMAT` below), so a
yeast-sized DAG ships inside the package and loads in a fraction of a second.
"""

from __future__ import annotations

import gzip
import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from torchcell_core.errors import SourceFormatError

NAMESPACES = ("biological_process", "molecular_function", "cellular_component")
RELATIONS = ("is_a", "part_of")
PACKAGED_DAG_FILE = "go_yeast.json.gz"

# Saved layout (gzipped UTF-8 JSON, keys in this order):
#   format: "torchcell.go_dag", version: 1, metadata: {str: str},
#   namespaces: NAMESPACES, relations: RELATIONS,
#   terms: [[go_id, name, namespace index, 0|1 obsolete], ...] sorted by go_id,
#   edges: [[child term index, parent term index, relation index], ...],
#   alt_ids: [[alt_id, term index], ...].
_FORMAT = "torchcell.go_dag"
_VERSION = 1


@dataclass(frozen=True)
class GoTerm:
    """One GO term; `namespace` is one of `NAMESPACES`."""

    go_id: str
    name: str
    namespace: str
    is_obsolete: bool = False


@dataclass(frozen=True, order=True)
class GoEdge:
    """A child -> parent link; `relation` is one of `RELATIONS`."""

    child: str
    parent: str
    relation: str


class GoDag:
    """Terms and their `is_a` / `part_of` parents, with alt ids mapped to primary ids.

    Instances are not changed after construction; derived DAGs (`subgraph`, `contract`)
    are new objects. Construction validates the graph unless `validate=False`.
    """

    def __init__(
        self,
        terms: Iterable[GoTerm],
        edges: Iterable[GoEdge | tuple[str, str, str]],
        alt_ids: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        validate: bool = True,
    ) -> None:
        self._terms = {term.go_id: term for term in terms}
        self._edges = sorted({edge if isinstance(edge, GoEdge) else GoEdge(*edge) for edge in edges})
        self._alt_ids = dict(alt_ids or {})
        self.metadata = dict(metadata or {})
        self._parents: dict[str, list[GoEdge]] = {go_id: [] for go_id in self._terms}
        self._children: dict[str, list[str]] = {go_id: [] for go_id in self._terms}
        for edge in self._edges:
            self._parents.setdefault(edge.child, []).append(edge)
            self._children.setdefault(edge.parent, []).append(edge.child)
        self._ancestors: dict[str, frozenset[str]] | None = None
        if validate:
            self.validate()

    # -- inspection -------------------------------------------------------------------
    @property
    def terms(self) -> Mapping[str, GoTerm]:
        return MappingProxyType(self._terms)

    @property
    def edges(self) -> list[GoEdge]:
        return list(self._edges)

    @property
    def alt_ids(self) -> Mapping[str, str]:
        return MappingProxyType(self._alt_ids)

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, go_id: object) -> bool:
        return go_id in self._terms

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms)

    def __repr__(self) -> str:
        return f"GoDag({len(self._terms)} terms, {len(self._edges)} edges, {len(self._alt_ids)} alt ids)"

    def resolve(self, go_id: str) -> str | None:
        """The primary id for `go_id` (itself, or the term it is an alt id of); None if unknown."""
        if go_id in self._terms:
            return go_id
        return self._alt_ids.get(go_id)

    def _known(self, go_id: str) -> str:
        if go_id not in self._terms:
            raise KeyError(f"{go_id} is not a term of this DAG")
        return go_id

    def parent_edges(self, go_id: str) -> list[GoEdge]:
        """The edges from `go_id` to its direct parents."""
        return list(self._parents[self._known(go_id)])

    def parents(self, go_id: str) -> list[str]:
        """Sorted direct parents over both relations."""
        return sorted({edge.parent for edge in self._parents[self._known(go_id)]})

    def children(self, go_id: str) -> list[str]:
        """Sorted direct children over both relations."""
        return sorted(set(self._children[self._known(go_id)]))

    def roots(self) -> list[str]:
        """Sorted non-obsolete terms without parents (one per namespace in a whole GO)."""
        return sorted(t for t, e in self._parents.items() if not e and not self._terms[t].is_obsolete)

    def ancestors(self, go_id: str) -> frozenset[str]:
        """All terms reachable from `go_id` over `is_a` and `part_of`, excluding itself."""
        return self.ancestor_sets()[self._known(go_id)]

    def descendants(self, go_id: str) -> set[str]:
        """All terms below `go_id`, excluding itself."""
        found: set[str] = set()
        stack = [self._known(go_id)]
        while stack:
            for child in self._children[stack.pop()]:
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def ancestor_sets(self) -> dict[str, frozenset[str]]:
        """Ancestors of every term, computed once in topological order and cached."""
        if self._ancestors is None:
            ancestors: dict[str, frozenset[str]] = {}
            for go_id in self.topological_order():
                found: set[str] = set()
                for edge in self._parents[go_id]:
                    found.add(edge.parent)
                    found |= ancestors[edge.parent]
                ancestors[go_id] = frozenset(found)
            self._ancestors = ancestors
        return self._ancestors

    def topological_order(self) -> list[str]:
        """Every term after all of its parents; ties broken by id so the order is reproducible.

        Raises ValueError naming the terms on a cycle when the graph is not acyclic.
        """
        pending = {go_id: len({e.parent for e in edges}) for go_id, edges in self._parents.items()}
        ready = [go_id for go_id, count in pending.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            go_id = heapq.heappop(ready)
            order.append(go_id)
            for child in set(self._children[go_id]):
                pending[child] -= 1
                if pending[child] == 0:
                    heapq.heappush(ready, child)
        if len(order) < len(pending):
            stuck = sorted(go_id for go_id, count in pending.items() if count > 0)
            raise ValueError(f"the GO graph has a cycle through {len(stuck)} terms, e.g. {stuck[:5]}")
        return order

    def depths(self) -> dict[str, int]:
        """Longest path (in edges) from a root to each term: a term is always deeper than its parents."""
        depth: dict[str, int] = {}
        for go_id in self.topological_order():
            depth[go_id] = max((depth[e.parent] + 1 for e in self._parents[go_id]), default=0)
        return depth

    # -- checks ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError unless namespaces, relations, edge ends and alt ids are sound and it is acyclic."""
        for term in self._terms.values():
            if term.namespace not in NAMESPACES:
                raise ValueError(f"{term.go_id}: namespace {term.namespace!r} is not one of {NAMESPACES}")
        for edge in self._edges:
            if edge.relation not in RELATIONS:
                raise ValueError(f"{edge.child} -> {edge.parent}: relation {edge.relation!r} is not one of {RELATIONS}")
            for end in (edge.child, edge.parent):
                if end not in self._terms:
                    raise ValueError(f"edge {edge.child} -> {edge.parent} names {end}, which is not a term")
            if edge.child == edge.parent:
                raise ValueError(f"{edge.child} is its own parent")
        for alt, primary in self._alt_ids.items():
            if alt in self._terms:
                raise ValueError(f"alt id {alt} is also a primary term id")
            if primary not in self._terms:
                raise ValueError(f"alt id {alt} points to {primary}, which is not a term")
        self.topological_order()

    # -- derived DAGs ---------------------------------------------------------------
    def subgraph(self, go_ids: Iterable[str]) -> GoDag:
        """The DAG on `go_ids` (alt ids resolved) and all their ancestors; KeyError on an unknown id."""
        keep: set[str] = set()
        for go_id in go_ids:
            primary = self.resolve(go_id)
            if primary is None:
                raise KeyError(f"{go_id} is not a term or alt id of this DAG")
            keep.add(primary)
            keep |= self.ancestors(primary)
        edges = [edge for edge in self._edges if edge.child in keep]
        alt_ids = {alt: primary for alt, primary in self._alt_ids.items() if primary in keep}
        return GoDag((self._terms[t] for t in sorted(keep)), edges, alt_ids, self.metadata, validate=False)

    def contract(self, keep: Iterable[str]) -> GoDag:
        """The DAG on `keep` only, each kept term linked to its nearest kept ancestors.

        A path through dropped terms becomes one edge; it is `is_a` when every step is
        `is_a` (on any such path), else `part_of`. Alt ids pointing to dropped terms go.
        """
        kept = {self._known(go_id) for go_id in keep}
        # For each term: {nearest kept ancestor: relation composed along the path}.
        reach: dict[str, dict[str, str]] = {}
        for go_id in self.topological_order():
            found: dict[str, str] = {}
            for edge in self._parents[go_id]:
                hops = {edge.parent: "is_a"} if edge.parent in kept else reach[edge.parent]
                for target, relation in hops.items():
                    composed = "is_a" if edge.relation == relation == "is_a" else "part_of"
                    if found.get(target) != "is_a":
                        found[target] = composed
            reach[go_id] = found
        edges = [GoEdge(go_id, parent, rel) for go_id in kept for parent, rel in reach[go_id].items()]
        alt_ids = {alt: primary for alt, primary in self._alt_ids.items() if primary in kept}
        return GoDag((self._terms[t] for t in sorted(kept)), edges, alt_ids, self.metadata, validate=False)

    # -- files ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the DAG as gzipped JSON; the bytes depend only on the content (gzip mtime 0)."""
        ids = sorted(self._terms)
        index = {go_id: i for i, go_id in enumerate(ids)}
        namespace_index = {ns: i for i, ns in enumerate(NAMESPACES)}
        relation_index = {rel: i for i, rel in enumerate(RELATIONS)}
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "metadata": dict(sorted(self.metadata.items())),
            "namespaces": list(NAMESPACES),
            "relations": list(RELATIONS),
            "terms": [
                [t, self._terms[t].name, namespace_index[self._terms[t].namespace], int(self._terms[t].is_obsolete)]
                for t in ids
            ],
            "edges": [[index[e.child], index[e.parent], relation_index[e.relation]] for e in self._edges],
            "alt_ids": [[alt, index[primary]] for alt, primary in sorted(self._alt_ids.items())],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
            handle.write(payload)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GoDag:
        """Read a file written by `save`; SourceFormatError names the offending JSON field."""
        path = Path(path)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, EOFError, json.JSONDecodeError) as error:
            raise SourceFormatError(path, f"not a gzipped JSON GO DAG: {error}") from error
        return _from_document(path, document)


def _from_document(path: Path, document: object) -> GoDag:
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise SourceFormatError(path, f"not a {_FORMAT} document", column="format")
    if document.get("version") != _VERSION:
        raise SourceFormatError(path, f"unsupported version {document.get('version')!r}", column="version")
    field = "terms"
    try:
        namespaces, relations = document["namespaces"], document["relations"]
        terms = [GoTerm(str(t[0]), str(t[1]), namespaces[t[2]], bool(t[3])) for t in document[field]]
        ids = [term.go_id for term in terms]
        field = "edges"
        edges = [GoEdge(ids[c], ids[p], relations[r]) for c, p, r in document[field]]
        field = "alt_ids"
        alt_ids = {str(alt): ids[i] for alt, i in document[field]}
        field = "metadata"
        metadata = {str(k): str(v) for k, v in document[field].items()}
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise SourceFormatError(path, f"malformed entry: {error!r}", column=field) from error
    try:
        return GoDag(terms, edges, alt_ids, metadata)
    except ValueError as error:
        raise SourceFormatError(path, str(error)) from error


def load_packaged_go_dag() -> GoDag:
    """The yeast-relevant GO DAG shipped with torchcell (see `ontology/data/README.md`)."""
    resource = resources.files("torchcell_core.ontology").joinpath("data", PACKAGED_DAG_FILE)
    with resources.as_file(resource) as path:
        return GoDag.load(path)
