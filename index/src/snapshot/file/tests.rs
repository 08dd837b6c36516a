use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::document::incident_from_json;
use crate::model::Incident;

fn key() -> Keying {
    Keying::new(0x0123_4567_89AB_CDEF, 0x0F1E_2D3C_4B5A_6978)
}

fn documents() -> Vec<String> {
    let mut docs = vec![
        r#"{"incident_id":"ION-1","version":1,"kind":"seizure","reported_on":"2026-01-01","reporting_country":"DE","agency":"DE Customs","contact_ref":"c-1","channel":"parcel_post","status":"active","substance_class":"fentanyl","substances":["fentanyl"],"parties":[{"role":"exporter","name":"Shanghai Hongda Chemical Co., Ltd","country_code":"CN","phones":["+86 21 5555 0101"],"emails":["Sales@Hongda.example"],"location":{"lat":31.2304,"lon":121.4737},"city":"Shanghai","postcode":"200000"},{"role":"importer","name":"IVANOVA, Natalya OOO","country_code":"RU","city":"Москва","web_domains":["www.ivanova.example"]}]}"#.to_owned(),
        r#"{"incident_id":"ION-2","version":3,"kind":"suspicious_shipment","reported_on":"2025-11-30","reporting_country":"FR","agency":"DGDDI","contact_ref":"","channel":"express","status":"active","substance_class":"synthetic_cathinone","substances":[],"parties":[{"role":"exporter","business_name":"上海宏达化工有限公司","country_code":"CN"},{"role":"other","business_name":"Lab site","area":{"vertices":[{"lat":10.0,"lon":20.0},{"lat":10.0,"lon":20.01},{"lat":10.01,"lon":20.01},{"lat":10.01,"lon":20.0}]}}]}"#.to_owned(),
        r#"{"incident_id":"ION-3","version":1,"kind":"seizure","reported_on":"2024-02-29","reporting_country":"DE","agency":"DE Customs","contact_ref":"x","channel":"road","status":"retracted","substance_class":"cocaine","substances":[],"parties":[{"role":"importer","name":"Retracted Person","country_code":"DE"}]}"#.to_owned(),
        r#"{"incident_id":"ION-4 ümlaut","version":2,"kind":"other","reported_on":"2023-06-15","reporting_country":"SI","agency":"FURS","contact_ref":"ref ✓","channel":"unknown","status":"active","substance_class":"unknown","substances":[],"parties":[{"role":"exporter","name":"SIS d.o.o.","country_code":"SI","location":{"lat":46.0569,"lon":14.5058}}]}"#.to_owned(),
    ];
    for i in 0..20 {
        docs.push(format!(
            r#"{{"incident_id":"GEN-{i}","version":1,"kind":"seizure","reported_on":"2026-03-{:02}","reporting_country":"NL","agency":"Agency {}","contact_ref":"","channel":"air_cargo","status":"active","substance_class":"precursor","substances":[],"parties":[{{"role":"exporter","name":"Trading Company {i} Ltd","country_code":"IN","phones":["+91 22 4000 {:04}"],"location":{{"lat":{},"lon":72.8777}}}},{{"role":"importer","name":"Consignee {i}","country_code":"NL","city":"Rotterdam"}}]}}"#,
            1 + i % 28,
            i % 3,
            1000 + i,
            19.07 + f64::from(i) * 0.001,
        ));
    }
    docs
}

fn incidents() -> Vec<Incident> {
    documents()
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            incident_from_json(doc.as_bytes(), &format!("doc{i}"))
                .unwrap_or_else(|v| panic!("document {i}: {v:?}"))
        })
        .collect()
}

fn built() -> Snapshot {
    Snapshot::build(&incidents(), key(), 7)
}

/// A fresh path in the temporary directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new() -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "preflight-snapshot-test-{}-{n}.bin",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The saved bytes of the test snapshot (saved once).
fn saved() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = TempPath::new();
        save(&built(), br#"{"stamp":1}"#, &path.0).expect("saved");
        std::fs::read(&path.0).expect("read back")
    })
}

fn load_bytes(bytes: &[u8]) -> Result<(Snapshot, Vec<u8>), FileError> {
    let path = TempPath::new();
    std::fs::write(&path.0, bytes).expect("written");
    load(&path.0, 9)
}

fn reason(result: Result<(Snapshot, Vec<u8>), FileError>) -> String {
    match result {
        Err(FileError::Invalid(why)) => why,
        Err(FileError::Io(e)) => panic!("an I/O error, not Invalid: {e}"),
        Ok(_) => panic!("a bad file was accepted"),
    }
}

/// The checksum recomputed after a deliberate change.
fn reseal(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn assert_same(a: &Snapshot, b: &Snapshot) {
    assert_eq!(a.keying, b.keying);
    assert_eq!(a.incident_ids, b.incident_ids);
    assert_eq!(a.id_hashes, b.id_hashes);
    assert_eq!(a.id_rows, b.id_rows);
    assert_eq!(a.versions, b.versions);
    assert_eq!(a.kinds, b.kinds);
    assert_eq!(a.substances, b.substances);
    assert_eq!(a.channels, b.channels);
    assert_eq!(a.reported_on, b.reported_on);
    assert_eq!(a.reporting_countries, b.reporting_countries);
    assert_eq!(a.agency_ids, b.agency_ids);
    assert_eq!(a.agencies, b.agencies);
    assert_eq!(a.contact_refs, b.contact_refs);
    assert_eq!(a.party_incident, b.party_incident);
    assert_eq!(a.party_role, b.party_role);
    // NaN (no location) is not equal to itself: compare the bits.
    let bits = |c: &[[f64; 2]]| {
        c.iter()
            .map(|[lat, lon]| (lat.to_bits(), lon.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a.party_point), bits(&b.party_point));
    assert_eq!(a.party_country, b.party_country);
    assert_eq!(a.party_postcode, b.party_postcode);
    assert_eq!(a.party_city, b.party_city);
    assert_eq!(a.party_street, b.party_street);
    assert_eq!(a.party_street_words, b.party_street_words);
    assert_eq!(a.party_house, b.party_house);
    assert_eq!(a.party_names, b.party_names);
    assert_eq!(a.postings, b.postings);
    assert_eq!(a.cells, b.cells);
    assert_eq!(a.cell_lat_e7, b.cell_lat_e7);
    assert_eq!(a.cell_lon_e7, b.cell_lon_e7);
    assert_eq!(a.areas.party_ids(), b.areas.party_ids());
    assert_eq!(a.areas.ends(), b.areas.ends());
    assert_eq!(a.areas.vertices(), b.areas.vertices());
    assert_eq!(a.log_parties.to_bits(), b.log_parties.to_bits());
    assert_eq!(a.nbytes(), b.nbytes());
    for row in 0..a.incident_count() {
        let id = a.incident_ids.get(row);
        assert_eq!(a.row_of(id), Some(row as u32));
        assert_eq!(b.row_of(id), Some(row as u32));
    }
    assert_eq!(b.row_of("no such incident"), None);
    for &key in a.postings.keys.iter() {
        assert_eq!(a.postings.get(key), b.postings.get(key));
        assert!(!b.postings.get(key).is_empty());
    }
    assert!(b.postings.get(0x5555).is_empty());
    for p in 0..a.party_count() {
        assert_eq!(a.party_names.get(p), b.party_names.get(p));
    }
    assert_eq!(
        a.areas.containing(10.005, 20.005),
        b.areas.containing(10.005, 20.005)
    );
}

#[test]
fn a_snapshot_round_trips_column_for_column() {
    let original = built();
    assert_eq!(original.incident_count(), 23); // ION-3 is retracted
    assert_eq!(original.areas.len(), 1);
    let path = TempPath::new();
    save(&original, b"stamp bytes", &path.0).expect("saved");
    let (loaded, stamp) = load(&path.0, 42).expect("loaded");
    assert_eq!(stamp, b"stamp bytes");
    assert_eq!(loaded.generation, 42);
    assert_same(&original, &loaded);
    assert!(loaded.party_city.is_mapped() && loaded.postings.values.is_mapped());
    assert!(loaded.party_names.blob.is_mapped());
    assert_eq!(loaded.areas.containing(10.005, 20.005).len(), 1);
    assert!(loaded.row_of("ION-3").is_none());
    assert!(loaded.row_of("ION-4 ümlaut").is_some());
}

#[test]
fn a_loaded_snapshot_saves_the_same_bytes() {
    let (loaded, stamp) = load_bytes(saved()).expect("loaded");
    let path = TempPath::new();
    save(&loaded, &stamp, &path.0).expect("saved again");
    assert_eq!(std::fs::read(&path.0).expect("read"), saved());
}

#[test]
fn an_empty_snapshot_round_trips() {
    let empty = Snapshot::build(&[], key(), 1);
    let path = TempPath::new();
    save(&empty, b"", &path.0).expect("saved");
    let (loaded, stamp) = load(&path.0, 2).expect("loaded");
    assert!(stamp.is_empty());
    assert_eq!(loaded.incident_count(), 0);
    assert_eq!(loaded.party_count(), 0);
    assert!(loaded.areas.is_empty());
    assert_same(&empty, &loaded);
}

#[test]
fn columns_are_64_byte_aligned_and_the_header_is_as_documented() {
    let bytes = saved();
    assert_eq!(&bytes[..8], b"PFSNAP\0\0");
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(
        u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
        bytes.len() as u64
    );
    assert_eq!(&bytes[24..40], CODE_FINGERPRINT.as_bytes());
    assert_eq!(bytes[40..56], key().to_bytes());
    let columns = u32::from_le_bytes(bytes[112..116].try_into().unwrap()) as usize;
    assert_eq!(columns, 37);
    for i in 0..columns {
        let at = HEADER_BYTES + i * ENTRY_BYTES + 32;
        let offset = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(offset % 64, 0);
    }
}

#[test]
fn the_code_fingerprint_is_16_hex_digits() {
    assert_eq!(CODE_FINGERPRINT.len(), 16);
    assert!(CODE_FINGERPRINT.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn a_wrong_magic_is_not_a_snapshot_file() {
    let mut bytes = saved().to_vec();
    bytes[0] = b'X';
    assert!(reason(load_bytes(&bytes)).starts_with("not a snapshot file"));
    assert!(reason(load_bytes(b"PK\x03\x04 a zip file")).starts_with("not a snapshot file"));
    assert!(reason(load_bytes(b"")).starts_with("not a snapshot file"));
}

#[test]
fn another_format_version_is_refused() {
    let mut bytes = saved().to_vec();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let why = reason(load_bytes(&bytes));
    assert!(
        why.contains(&format!("format version {}", FORMAT_VERSION + 1)),
        "{why}"
    );
}

#[test]
fn a_file_written_by_other_code_is_refused() {
    let mut bytes = saved().to_vec();
    let other = if CODE_FINGERPRINT == "0123456789abcdef" {
        b"fedcba9876543210"
    } else {
        b"0123456789abcdef"
    };
    bytes[24..40].copy_from_slice(other);
    reseal(&mut bytes);
    let why = reason(load_bytes(&bytes));
    assert!(
        why.starts_with("written by another version of the core"),
        "{why}"
    );
}

#[test]
fn a_truncated_file_is_damaged() {
    let bytes = saved();
    for keep in [bytes.len() - 1, bytes.len() / 2, 200, 127, 9] {
        let why = reason(load_bytes(&bytes[..keep]));
        assert!(why.starts_with("damaged"), "{keep}: {why}");
    }
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0; 64]);
    assert!(reason(load_bytes(&longer)).starts_with("damaged"));
}

#[test]
fn a_missing_file_is_an_io_error() {
    let path = TempPath::new();
    assert!(matches!(load(&path.0, 1), Err(FileError::Io(_))));
}

/// A sealed file (checksum right) with one value changed in column `name`, at `index`.
fn sealed_with(name: &str, index: usize, value: &[u8]) -> Vec<u8> {
    let mut bytes = saved().to_vec();
    let columns = u32::from_le_bytes(bytes[112..116].try_into().unwrap()) as usize;
    let entry = (0..columns)
        .map(|i| HEADER_BYTES + i * ENTRY_BYTES)
        .find(|&at| {
            let raw = &bytes[at..at + NAME_BYTES];
            &raw[..raw.iter().position(|&b| b == 0).unwrap()] == name.as_bytes()
        })
        .expect("a column of that name");
    let offset = u64::from_le_bytes(bytes[entry + 32..entry + 40].try_into().unwrap()) as usize;
    let at = offset + index * value.len();
    bytes[at..at + value.len()].copy_from_slice(value);
    reseal(&mut bytes);
    bytes
}

#[test]
fn values_the_core_indexes_with_are_checked_after_the_checksum() {
    let cases: [(&str, usize, Vec<u8>, &str); 11] = [
        (
            "party_incident",
            0,
            9999u32.to_le_bytes().to_vec(),
            "out of range",
        ),
        (
            "postings.values",
            0,
            u32::MAX.to_le_bytes().to_vec(),
            "postings.values",
        ),
        (
            "postings.starts",
            1,
            0u32.to_le_bytes().to_vec(),
            "postings.starts",
        ),
        (
            "postings.keys",
            0,
            u64::MAX.to_le_bytes().to_vec(),
            "postings.keys",
        ),
        ("agency_ids", 0, 77u32.to_le_bytes().to_vec(), "agency_ids"),
        (
            "id_rows",
            0,
            [5u32.to_le_bytes(), 5u32.to_le_bytes()].concat(),
            "id_rows",
        ),
        ("kinds", 0, vec![200], "unknown code"),
        ("party_role", 0, vec![9], "unknown code"),
        ("party_names.blob", 0, vec![0xFF], "UTF-8"),
        (
            "incident_ids.offsets",
            1,
            1000u64.to_le_bytes().to_vec(),
            "incident_ids",
        ),
        (
            "areas.vertices",
            0,
            f64::NAN.to_le_bytes().to_vec(),
            "finite",
        ),
    ];
    for (column, index, value, expected) in cases {
        let why = reason(load_bytes(&sealed_with(column, index, &value)));
        assert!(why.contains(expected), "{column}: {why}");
    }
}

#[test]
fn an_offset_inside_a_character_is_refused() {
    // "ION-4 ümlaut" is row 2: its ü is two bytes; end the string inside it.
    let s = built();
    let start = s.incident_ids.offsets[2];
    let bytes = sealed_with("incident_ids.offsets", 3, &(start + 7).to_le_bytes());
    let why = reason(load_bytes(&bytes));
    assert!(
        why.contains("splits a character") || why.contains("UTF-8"),
        "{why}"
    );
}

/// Use every part of a loaded snapshot the way a screening does.
fn exercise(s: &Snapshot) {
    for row in 0..s.incident_count() {
        let _ = s.row_of(s.incident_ids.get(row));
        let _ = s.contact_refs.get(row);
        let _ = s.agencies.get(s.agency_ids[row] as usize);
        let _ = crate::model::IncidentKind::from_code(s.kinds[row]);
        let _ = crate::model::SubstanceClass::from_code(s.substances[row]);
        let _ = crate::model::Channel::from_code(s.channels[row]);
        let _ = crate::model::iso_from_ordinal(s.reported_on[row]);
    }
    for p in 0..s.party_count() {
        let _ = s.party_names.get(p);
        let _ = s.kinds[s.party_incident[p] as usize];
        let _ = crate::model::PartyRole::from_code(s.party_role[p]);
    }
    for &key in s.postings.keys.iter() {
        for &p in s.postings.get(key) {
            let _ = s.party_city[p as usize];
        }
    }
    let _ = s.areas.containing(10.005, 20.005);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_flipped_byte_anywhere_is_invalid(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let mut bytes = saved().to_vec();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        let result = load_bytes(&bytes);
        prop_assert!(matches!(result, Err(FileError::Invalid(_))), "byte {} accepted", at);
    }

    /// Past the checksum (resealed), a changed byte is refused or gives a snapshot that can be
    /// used without a panic.
    #[test]
    fn a_resealed_change_never_panics(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let mut bytes = saved().to_vec();
        let at = 16 + at.index(bytes.len() - 16);
        bytes[at] ^= mask;
        reseal(&mut bytes);
        match load_bytes(&bytes) {
            Ok((snapshot, _)) => exercise(&snapshot),
            Err(FileError::Invalid(_)) => {}
            Err(FileError::Io(e)) => prop_assert!(false, "I/O error {}", e),
        }
    }
}

#[test]
fn a_snapshot_built_batch_by_batch_is_the_one_built_at_once() {
    let all = incidents();
    let whole = built();
    for batch in [1, 4, 7, all.len()] {
        let mut builder = crate::snapshot::SnapshotBuilder::new(key());
        for part in all.chunks(batch) {
            builder.add(part);
        }
        let batched = builder.finish(7);
        assert_same(&whole, &batched);
        let (a, b) = (TempPath::new(), TempPath::new());
        save(&whole, b"", &a.0).expect("saved");
        save(&batched, b"", &b.0).expect("saved");
        let bytes = |p: &TempPath| std::fs::read(&p.0).expect("read");
        assert_eq!(bytes(&a), bytes(&b), "batches of {batch}");
    }
}
