//! The validation cases of tests/index/test_model.py, plus properties.

use super::*;
use crate::proto;
use proptest::prelude::*;

fn fields(violations: &[FieldViolation]) -> std::collections::BTreeSet<&str> {
    violations.iter().map(|v| v.field.as_str()).collect()
}

fn named(name: &str) -> Party {
    Party {
        name: name.into(),
        ..Party::default()
    }
}

fn query(parties: Vec<Party>) -> Query {
    Query {
        item_id: "EE471108151FR".into(),
        parties,
        channel: Channel::ParcelPost,
        contents: vec![],
    }
}

fn incident(id: &str, parties: Vec<Party>) -> Incident {
    Incident {
        incident_id: id.into(),
        version: 1,
        kind: IncidentKind::Seizure,
        reported_on: ordinal_from_iso("2025-01-01").unwrap(),
        reporting_country: "DE".into(),
        agency: String::new(),
        contact_ref: String::new(),
        channel: Channel::Unknown,
        status: IncidentStatus::Active,
        substance_class: SubstanceClass::Unknown,
        substances: vec![],
        parties,
    }
}

#[test]
fn s10_example_from_the_upu_standard_is_valid() {
    assert_eq!(s10_problem("EE471108151FR"), None);
    assert_eq!(s10_check_digit("47110815"), Some(1));
    assert_eq!(s10_check_digit("4711081"), None);
}

#[test]
fn s10_messages() {
    assert_eq!(
        s10_problem("JJ471108151FR").unwrap(),
        "service indicator JJ is reserved by the UPU"
    );
    assert_eq!(
        s10_problem("EE471108151ZZ").unwrap(),
        "ZZ is not an ISO 3166-1 country code"
    );
    assert_eq!(
        s10_problem("EE4711081FR").unwrap(),
        "must be a UPU S10 id: 2 letters, 8 digits, a check digit, 2-letter country"
    );
    assert_eq!(
        s10_problem("EE471108152FR").unwrap(),
        "check digit 2 is wrong for serial 47110815"
    );
    assert!(s10_problem("EE47110815١FR").is_some()); // Arabic-Indic digit: not [0-9]
}

#[test]
fn invalid_query_names_every_offending_field() {
    let bad = Query {
        item_id: "EE471108152FR".into(),
        channel: Channel::ParcelPost,
        parties: vec![
            Party {
                role: PartyRole::Exporter,
                name: "ok".into(),
                country_code: "CN".into(),
                ..Party::default()
            },
            Party {
                role: PartyRole::Importer,
                name: "x".repeat(301),
                country_code: "XX".into(),
                location: Some(Location {
                    lat: f64::NAN,
                    lon: 200.0,
                }),
                phones: vec!["1".into(); 9],
                ..Party::default()
            },
        ],
        contents: vec![ContentLine {
            hs_code: "12AB".into(),
            ..ContentLine::default()
        }],
    };
    let v = query_violations(&bad);
    assert_eq!(
        fields(&v),
        [
            "item.item_id",
            "parties[1].name",
            "parties[1].country_code",
            "parties[1].location.lat",
            "parties[1].location.lon",
            "parties[1].phones",
            "item.contents[0].hs_code",
        ]
        .into_iter()
        .collect()
    );
    let described: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert!(described.contains(&("parties[1].name", "longer than 300 characters")));
    assert!(described.contains(&(
        "parties[1].country_code",
        "'XX' is not an ISO 3166-1 alpha-2 code"
    )));
    assert!(described.contains(&("parties[1].phones", "more than 8 entries")));
    assert!(described.contains(&("item.contents[0].hs_code", "must be 6 to 10 digits")));
}

#[test]
fn party_without_any_identity_is_rejected_and_control_characters_too() {
    let v = query_violations(&query(vec![
        Party {
            role: PartyRole::Exporter,
            ..Party::default()
        },
        named("a\x00b"),
    ]));
    assert_eq!(
        fields(&v),
        ["parties[0]", "parties[1].name"].into_iter().collect()
    );
    assert_eq!(
        v[0].description,
        "needs a name, business name, identifier, location or area"
    );
    assert_eq!(v[1].description, "contains control characters");
}

#[test]
fn courier_items_need_an_id_but_not_an_s10_one() {
    let ok = Query {
        item_id: "AWB-123".into(),
        parties: vec![named("A")],
        channel: Channel::Express,
        contents: vec![],
    };
    assert!(query_violations(&ok).is_empty());
    let empty = Query {
        item_id: String::new(),
        parties: vec![],
        channel: Channel::Express,
        contents: vec![],
    };
    let v = query_violations(&empty);
    assert_eq!(
        fields(&v),
        ["item.item_id", "parties"].into_iter().collect()
    );
    assert_eq!(v[1].description, "at least one party is required");
    let many = Query {
        item_id: "X".into(),
        parties: vec![named("A"); 9],
        channel: Channel::Express,
        contents: vec![],
    };
    assert_eq!(
        query_violations(&many)[0].description,
        "more than 8 parties"
    );
}

#[test]
fn incident_validation_paths_and_area_vertices() {
    let tiny = Party {
        name: "A".into(),
        area: Some(vec![
            Location { lat: 0.0, lon: 0.0 },
            Location { lat: 1.0, lon: 1.0 },
        ]),
        ..Party::default()
    };
    let mut bad = incident("", vec![tiny]);
    bad.reporting_country = String::new();
    bad.version = 0;
    let v = incident_violations(&bad, "incidents[0]");
    assert_eq!(
        fields(&v),
        [
            "incidents[0].incident_id",
            "incidents[0].version",
            "incidents[0].reporting_country",
            "incidents[0].parties[0].area",
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(v[3].description, "needs 3 to 256 vertices");
    let boxed = Party {
        name: "A".into(),
        area: Some(vec![
            Location { lat: 0.0, lon: 0.0 },
            Location { lat: 0.0, lon: 1.0 },
            Location { lat: 1.0, lon: 1.0 },
            Location { lat: 1.0, lon: 0.0 },
        ]),
        ..Party::default()
    };
    assert!(incident_violations(&incident("ION-1", vec![boxed]), "incident").is_empty());
    let v = incident_violations(&incident("ION-2", vec![]), "incident");
    assert_eq!(v[0].field, "incident.parties");
    let v = incident_violations(&incident("ION-3", vec![named("A"); 17]), "incident");
    assert_eq!(v[0].description, "more than 16");
}

#[test]
fn error_message_joins_like_validation_error() {
    let v = vec![FieldViolation::new("a", "b")];
    assert_eq!(error_message(&v), "a: b");
    let many = vec![FieldViolation::new("f", "é".repeat(600)); 2];
    let item = item_error(&many);
    assert_eq!(item.message.chars().count(), 1000);
    assert_eq!(item.field_violations.len(), 2);
}

#[test]
fn enums_round_trip() {
    for role in PartyRole::ALL {
        assert_eq!(PartyRole::from_str(role.as_str()), Some(*role));
        assert_eq!(PartyRole::from_code(role.code()), *role);
        assert_eq!(PartyRole::try_from_code(role.code()), Some(*role));
        assert_eq!(PartyRole::from_pb(role.to_pb()), Some(*role));
    }
    for c in Channel::ALL {
        assert_eq!(Channel::from_pb(c.to_pb()), Some(*c));
    }
    for s in SubstanceClass::ALL {
        assert_eq!(SubstanceClass::from_pb(s.to_pb()), Some(*s));
        assert_eq!(SubstanceClass::from_str(s.as_str()), Some(*s));
    }
    for k in IncidentKind::ALL {
        assert_eq!(IncidentKind::from_pb(k.to_pb()), Some(*k));
    }
    for s in IncidentStatus::ALL {
        assert_eq!(IncidentStatus::from_pb(s.to_pb()), Some(*s));
    }
    assert_eq!(IncidentKind::from_pb(0), None);
    assert_eq!(PartyRole::from_pb(0), Some(PartyRole::Other));
    assert_eq!(SubstanceClass::from_pb(0), Some(SubstanceClass::Unknown));
    assert_eq!(IncidentStatus::from_pb(0), Some(IncidentStatus::Active));
    assert_eq!(Channel::from_pb(7), None);
    assert_eq!(
        IncidentKind::SuspiciousShipment.as_str(),
        "suspicious_shipment"
    );
    assert_eq!(SubstanceClass::Unknown.code(), 13);
    assert_eq!(SubstanceClass::try_from_code(14), None);
}

#[test]
fn request_enum_violations_come_before_the_contract_rules() {
    let request = proto::ScreenRequest {
        item: Some(proto::Item {
            item_id: String::new(),
            channel: 9,
            contents: vec![],
        }),
        parties: vec![proto::Party {
            role: 7,
            ..proto::Party::default()
        }],
    };
    let v = validate_request(&request).unwrap_err();
    assert_eq!(
        v,
        vec![
            FieldViolation::new("item.channel", "unknown value 9"),
            FieldViolation::new("parties[0].role", "unknown value 7"),
        ]
    );
    let v = validate_request(&proto::ScreenRequest::default()).unwrap_err();
    assert_eq!(
        v,
        vec![
            FieldViolation::new("item.item_id", "is required"),
            FieldViolation::new("parties", "at least one party is required"),
        ]
    );
}

#[test]
fn message_fields_cover_the_structs() {
    let fields = crate::proto::message_fields();
    assert!(fields.contains(&("Party", "area", 14)));
    assert!(fields.contains(&("ScreenBatchEntry", "error", 3)));
    let unique: std::collections::HashSet<_> = fields.iter().map(|(m, f, _)| (m, f)).collect();
    assert_eq!(unique.len(), fields.len());
}

fn s10_id() -> impl Strategy<Value = String> {
    (
        "[A-IL-RU-VX-Z][A-Z]",
        0u32..100_000_000,
        prop::sample::select(COUNTRY_CODES.to_vec()),
    )
        .prop_map(|(service, serial, country)| {
            let serial = format!("{serial:08}");
            let check = s10_check_digit(&serial).unwrap();
            format!("{service}{serial}{check}{country}")
        })
}

proptest! {
    #[test]
    fn generated_s10_ids_validate(id in s10_id()) {
        prop_assert_eq!(s10_problem(&id), None);
    }

    #[test]
    fn a_changed_check_digit_fails(id in s10_id(), delta in 1u8..10) {
        let mut bytes = id.into_bytes();
        bytes[10] = b'0' + (bytes[10] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        let problem = s10_problem(&changed).unwrap();
        prop_assert!(problem.starts_with("check digit"), "{}", problem);
    }

    /// S10 maps both remainders 0 and 6 to check digit 5 (UPU standard), so a changed serial
    /// digit is caught exactly when the check digit it implies changes.
    #[test]
    fn a_changed_serial_digit_fails_unless_the_check_digit_collides(
        id in s10_id(), at in 2usize..10, delta in 1u8..10,
    ) {
        let mut bytes = id.into_bytes();
        bytes[at] = b'0' + (bytes[at] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        let collides = s10_check_digit(&changed[2..10]) == Some(u32::from(changed.as_bytes()[10] - b'0'));
        prop_assert_eq!(s10_problem(&changed).is_none(), collides);
        if collides {
            prop_assert_eq!(s10_check_digit(&changed[2..10]), Some(5));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), n in 0usize..20) {
        let _ = s10_problem(&text);
        let _ = ordinal_from_iso(&text);
        let _ = py_repr(&text);
        let _ = text_prefix(&text, n);
        let party = Party { country_code: text.clone(), name: text.clone(), ..Party::default() };
        let _ = party_violations(&party, "p");
    }

    #[test]
    fn arbitrary_request_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..256)) {
        use prost::Message;
        if let Ok(request) = proto::ScreenRequest::decode(raw.as_slice()) {
            let _ = validate_request(&request);
        }
    }

    #[test]
    fn ordinals_round_trip(ordinal in 1i32..=3_652_059) {
        prop_assert_eq!(ordinal_from_iso(&iso_from_ordinal(ordinal)), Some(ordinal));
    }
}
