"""The compiled core behind typed calls, for tools, tests, the CLI and the evaluation.

The service itself hands the core request bytes (service.rpc.servicers); this module turns the
core's plain data (Incident, Query, Result) into those bytes and back, so everything that
thinks in plain data screens through the one compiled implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date

from index import _core
from index.errors import FieldViolation, ValidationError
from index.model import Incident, Query, Result
from index.policy import Policy, policy_json
from preflight.v1 import preflight_pb2 as pb
from service.codec import incident_to_json
from service.rpc import convert
from service.settings import DEFAULT_INDEX_KEY


@functools.lru_cache(maxsize=16)
def _compiled_policy(text: str) -> _core.Policy:
    return _core.Policy.from_json(text)


def compiled_policy(policy: Policy) -> _core.Policy:
    return _compiled_policy(policy_json(policy))


def documents_of(incidents: Iterable[Incident]) -> list[tuple[str, bytes]]:
    return [(i.incident_id, incident_to_json(i)) for i in incidents]


class CompiledView:
    """An index view of the compiled core, screened with plain data."""

    def __init__(self, view: _core.View) -> None:
        self.core = view

    @classmethod
    def build(
        cls, incidents: Iterable[Incident], generation: int = 0, key: bytes = DEFAULT_INDEX_KEY
    ) -> CompiledView:
        snapshot, invalid = _core.Snapshot.build(documents_of(incidents), key, generation)
        if invalid:
            raise ValueError(f"incidents that do not validate: {invalid[:3]}")
        return cls(_core.View(snapshot))

    def apply(
        self,
        upserts: Iterable[Incident] = (),
        deletions: Iterable[str] = (),
        generation: int | None = None,
    ) -> CompiledView:
        next_generation = self.generation + 1 if generation is None else generation
        view, invalid = self.core.apply(documents_of(upserts), list(deletions), next_generation)
        if invalid:
            raise ValueError(f"incidents that do not validate: {invalid[:3]}")
        return CompiledView(view)

    @property
    def generation(self) -> int:
        return self.core.generation

    @property
    def incident_count(self) -> int:
        return self.core.incident_count

    @property
    def party_count(self) -> int:
        return self.core.party_count

    def screen(self, query: Query, policy: Policy, as_of: date) -> Result:
        """The explained verdict for one item; ValidationError for an invalid one."""
        raw, _ = self.core.screen(
            convert.query_to_pb(query).SerializeToString(),
            compiled_policy(policy),
            as_of.toordinal(),
            0.0,
        )
        return convert.result_from_pb(pb.ScreenResponse.FromString(raw))

    def screen_many(self, queries: Sequence[Query], policy: Policy, as_of: date) -> list[Result]:
        """Verdicts for many items, screened together (a customs batch); ValidationError
        naming the first invalid item's fields."""
        request = pb.ScreenBatchRequest(items=[convert.query_to_pb(q) for q in queries])
        raw, _ = self.core.screen_batch(
            request.SerializeToString(), compiled_policy(policy), as_of.toordinal(), 0.0,
            max(len(queries), 1),
        )  # fmt: skip
        results = []
        for entry in pb.ScreenBatchResponse.FromString(raw).entries:
            if entry.HasField("error"):
                raise ValidationError(
                    [FieldViolation(v.field, v.description) for v in entry.error.field_violations]
                )
            results.append(convert.result_from_pb(entry.verdict))
        return results
