from __future__ import annotations

from datetime import date

import pytest

from index.model import (
    Channel,
    Incident,
    IncidentKind,
    Location,
    Party,
    PartyRole,
    Query,
    SubstanceClass,
)
from index.policy import DEFAULT_POLICY, Policy
from service.screener import CompiledView

TODAY = date(2026, 11, 24)
SHANGHAI = Location(31.2304, 121.4737)
BERLIN = Location(52.5200, 13.4050)


def incident(incident_id: str, *parties: Party, **fields: object) -> Incident:
    defaults: dict[str, object] = {
        "kind": IncidentKind.SEIZURE,
        "reported_on": date(2026, 6, 1),
        "reporting_country": "DE",
        "agency": "Zollfahndung",
        "contact_ref": "ZKA-42",
        "substance_class": SubstanceClass.FENTANYL,
        "parties": parties,
    }
    defaults.update(fields)
    return Incident(incident_id=incident_id, **defaults)  # type: ignore[arg-type]


def query(*parties: Party, item_id: str = "EE471108151FR") -> Query:
    return Query(item_id=item_id, parties=parties, channel=Channel.PARCEL_POST)


@pytest.fixture
def hongda() -> Incident:
    return incident(
        "ION-2026-0001",
        Party(
            PartyRole.EXPORTER,
            business_name="Shanghai Hongda Chemical Co., Ltd",
            postcode="200001",
            city="Shanghai",
            country_code="CN",
            location=SHANGHAI,
            phones=("+86 21 5555 1234",),
            emails=("sales@hongda-chem.example",),
        ),
        Party(
            PartyRole.IMPORTER,
            name="Natalya Ivanova",
            city="Berlin",
            country_code="DE",
            location=BERLIN,
        ),
    )


@pytest.fixture
def view(hongda: Incident) -> CompiledView:
    other = incident(
        "ION-2025-0002",
        Party(PartyRole.EXPORTER, business_name="SIS d.o.o.", city="Beograd", country_code="RS"),
        kind=IncidentKind.SUSPICIOUS_SHIPMENT,
        reported_on=date(2025, 2, 1),
    )
    return CompiledView.build([hongda, other], generation=7)


@pytest.fixture
def policy() -> Policy:
    return DEFAULT_POLICY
