//! Snapshot files: a snapshot's columns in one flat, versioned, checksummed little-endian file,
//! memory-mapped on load.
//!
//! Layout (every integer little-endian):
//!
//! ```text
//!   0  magic            8 bytes   b"PFSNAP\0\0"
//!   8  format version   u32       FORMAT_VERSION
//!  12  checksum         u32       CRC-32 (IEEE) of every byte after this field, [16, file end)
//!  16  file length      u64       bytes, this header included
//!  24  code fingerprint 16 bytes  CODE_FINGERPRINT (ASCII hex) of the core that wrote it
//!  40  deployment key   16 bytes  Keying::to_bytes
//!  56  counts           7 × u64   incidents, parties, agencies, postings keys, postings
//!                                 values, areas, area vertices
//! 112  column count     u32
//! 116  reserved         u32       0
//! 120  stamp length     u64
//! 128  column table     48 bytes per column: name (24 bytes, ASCII, zero-padded), element
//!                                 type (u8), 7 zero bytes, byte offset (u64), element count (u64)
//!  ..  stamp            the caller's bytes, opaque here
//!  ..  columns          in table order, each at an offset that is a multiple of 64, zero
//!                       padding between; the file ends where the last column ends
//! ```
//!
//! The generation is not stored (the loader is told it) and `log_parties` is recomputed. A
//! loader checks magic, version, length, checksum and fingerprint before it reads anything
//! else, then every column's bounds, alignment, type and count, and every value the code
//! indexes with (ids, offsets, codes), so a bad file is an `Invalid` reason, never a panic.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use super::column::{Column, Scalar};
use super::{log_parties, PackedStrings, Postings, Snapshot};
use crate::geo::AreaIndex;
use crate::keys::Keying;
use crate::model::{Channel, IncidentKind, PartyRole, SubstanceClass};

pub const MAGIC: [u8; 8] = *b"PFSNAP\0\0";
/// The layout above; a change to it is a new version.
pub const FORMAT_VERSION: u32 = 5;
/// FNV-1a 64 of the crate's sources and Cargo.lock (build.rs): a file written by other code
/// may hold other keys (normalisation changed), so it is refused.
pub const CODE_FINGERPRINT: &str = env!("PREFLIGHT_CODE_FINGERPRINT");

const HEADER_BYTES: usize = 128;
const ENTRY_BYTES: usize = 48;
const NAME_BYTES: usize = 24;
const COLUMN_ALIGN: usize = 64;
const CHECKSUMMED_FROM: usize = 16;
const FINGERPRINT_BYTES: usize = 16;
const _: () = assert!(CODE_FINGERPRINT.len() == FINGERPRINT_BYTES);

#[derive(Debug)]
pub enum FileError {
    Io(std::io::Error),
    Invalid(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "{e}"),
            FileError::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        FileError::Io(e)
    }
}

fn invalid(why: impl Into<String>) -> FileError {
    FileError::Invalid(why.into())
}

/// The header's counts, in header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    incidents: u64,
    parties: u64,
    agencies: u64,
    keys: u64,
    values: u64,
    areas: u64,
    vertices: u64,
}

impl Counts {
    fn of(s: &Snapshot) -> Counts {
        Counts {
            incidents: s.incident_count() as u64,
            parties: s.party_count() as u64,
            agencies: s.agencies.len() as u64,
            keys: s.postings.keys.len() as u64,
            values: s.postings.values.len() as u64,
            areas: s.areas.len() as u64,
            vertices: s.areas.vertices().len() as u64,
        }
    }

    fn as_array(self) -> [u64; 7] {
        [
            self.incidents,
            self.parties,
            self.agencies,
            self.keys,
            self.values,
            self.areas,
            self.vertices,
        ]
    }
}

/// One column's values, typed, for writing.
enum Values<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F64x2(&'a [[f64; 2]]),
}

impl Values<'_> {
    fn count(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::U16(v) => v.len(),
            Values::U32(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::F64x2(v) => v.len(),
        }
    }

    fn code(&self) -> u8 {
        match self {
            Values::U8(_) => u8::CODE,
            Values::U16(_) => u16::CODE,
            Values::U32(_) => u32::CODE,
            Values::U64(_) => u64::CODE,
            Values::I32(_) => i32::CODE,
            Values::I64(_) => i64::CODE,
            Values::F64x2(_) => <[f64; 2]>::CODE,
        }
    }

    fn nbytes(&self) -> usize {
        self.count() * element_size(self.code()).expect("a known type")
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            Values::U8(v) => out.write_all(v),
            Values::U16(v) => write_le(out, v),
            Values::U32(v) => write_le(out, v),
            Values::U64(v) => write_le(out, v),
            Values::I32(v) => write_le(out, v),
            Values::I64(v) => write_le(out, v),
            Values::F64x2(v) => write_le(out, v),
        }
    }
}

/// Values as little-endian bytes, a chunk at a time (no unsafe cast on the way out).
fn write_le<T: Scalar>(out: &mut impl Write, values: &[T]) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(64 * 1024);
    for chunk in values.chunks(4096) {
        buffer.clear();
        for &value in chunk {
            value.put_le(&mut buffer);
        }
        out.write_all(&buffer)?;
    }
    Ok(())
}

fn element_size(code: u8) -> Option<usize> {
    Some(match code {
        c if c == u8::CODE => 1,
        c if c == u16::CODE => 2,
        c if c == u32::CODE || c == i32::CODE => 4,
        c if c == u64::CODE || c == i64::CODE || c == f64::CODE => 8,
        c if c == <[f64; 2]>::CODE => 16,
        _ => return None,
    })
}

/// Every column of a snapshot, in file order. `load` reads them back in this same order.
fn columns_of(s: &Snapshot) -> Vec<(&'static str, Values<'_>)> {
    use Values::*;
    vec![
        ("incident_ids.blob", U8(&s.incident_ids.blob)),
        ("incident_ids.offsets", U64(&s.incident_ids.offsets)),
        ("id_hashes", U64(&s.id_hashes)),
        ("id_rows", U32(&s.id_rows)),
        ("versions", I64(&s.versions)),
        ("kinds", U8(&s.kinds)),
        ("substances", U8(&s.substances)),
        ("channels", U8(&s.channels)),
        ("reported_on", I32(&s.reported_on)),
        ("reporting_countries", U16(&s.reporting_countries)),
        ("agency_ids", U32(&s.agency_ids)),
        ("agencies.blob", U8(&s.agencies.blob)),
        ("agencies.offsets", U64(&s.agencies.offsets)),
        ("contact_refs.blob", U8(&s.contact_refs.blob)),
        ("contact_refs.offsets", U64(&s.contact_refs.offsets)),
        ("party_incident", U32(&s.party_incident)),
        ("party_role", U8(&s.party_role)),
        ("party_point", F64x2(&s.party_point)),
        ("party_country", U16(&s.party_country)),
        ("party_postcode", U32(&s.party_postcode)),
        ("party_city", U32(&s.party_city)),
        ("party_street", U32(&s.party_street)),
        ("party_street_words", U32(&s.party_street_words)),
        ("party_house", U32(&s.party_house)),
        ("party_names.blob", U8(&s.party_names.blob)),
        ("party_names.offsets", U64(&s.party_names.offsets)),
        ("postings.keys", U64(&s.postings.keys)),
        ("postings.starts", U32(&s.postings.starts)),
        ("postings.values", U32(&s.postings.values)),
        ("cells.keys", U64(&s.cells.keys)),
        ("cells.starts", U32(&s.cells.starts)),
        ("cells.values", U32(&s.cells.values)),
        ("cells.lat_e7", I32(&s.cell_lat_e7)),
        ("cells.lon_e7", I32(&s.cell_lon_e7)),
        ("areas.party_ids", U32(s.areas.party_ids())),
        ("areas.ends", U32(s.areas.ends())),
        ("areas.vertices", F64x2(s.areas.vertices())),
    ]
}

fn align_up(offset: usize) -> usize {
    offset.div_ceil(COLUMN_ALIGN) * COLUMN_ALIGN
}

/// Bytes written through to a file, checksummed from byte CHECKSUMMED_FROM on.
struct Checksummed<W: Write> {
    inner: W,
    written: usize,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let skip = CHECKSUMMED_FROM.saturating_sub(self.written).min(n);
        self.crc.update(&buf[skip..n]);
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Write `snapshot` and the caller's `stamp` to `path` (created or truncated, then fsynced).
/// `path` must not be a file some snapshot is mapped from (truncating it would pull the bytes
/// from under that snapshot): the caller writes a new temporary file (its mode chosen by the
/// caller, kept by the truncation) and renames it into place.
pub fn save(snapshot: &Snapshot, stamp: &[u8], path: &Path) -> Result<(), FileError> {
    let columns = columns_of(snapshot);
    let table_end = HEADER_BYTES + ENTRY_BYTES * columns.len();
    let mut offset = table_end + stamp.len();
    let mut placed = Vec::with_capacity(columns.len());
    for (_, values) in &columns {
        offset = align_up(offset);
        placed.push(offset);
        offset += values.nbytes();
    }
    let file_len = offset;

    let mut header = Vec::with_capacity(table_end);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes()); // the checksum, written last
    header.extend_from_slice(&(file_len as u64).to_le_bytes());
    header.extend_from_slice(CODE_FINGERPRINT.as_bytes());
    header.extend_from_slice(&snapshot.keying.to_bytes());
    for count in Counts::of(snapshot).as_array() {
        header.extend_from_slice(&count.to_le_bytes());
    }
    header.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&(stamp.len() as u64).to_le_bytes());
    debug_assert_eq!(header.len(), HEADER_BYTES);
    for ((name, values), &at) in columns.iter().zip(&placed) {
        let mut field = [0u8; NAME_BYTES];
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.extend_from_slice(&field);
        header.push(values.code());
        header.extend_from_slice(&[0u8; 7]);
        header.extend_from_slice(&(at as u64).to_le_bytes());
        header.extend_from_slice(&(values.count() as u64).to_le_bytes());
    }

    let file = File::create(path)?;
    let mut out = Checksummed {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
        crc: crc32fast::Hasher::new(),
    };
    out.write_all(&header)?;
    out.write_all(stamp)?;
    for ((_, values), &at) in columns.iter().zip(&placed) {
        out.write_all(&[0u8; COLUMN_ALIGN][..at - out.written])?;
        values.write(&mut out)?;
    }
    debug_assert_eq!(out.written, file_len);
    let checksum = out.crc.finalize();
    let mut file = out.inner.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(12))?;
    file.write_all(&checksum.to_le_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Little-endian fields of the header, read in order.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let field = self.bytes[self.at..self.at + N]
            .try_into()
            .expect("callers check the header's length first");
        self.at += N;
        field
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

/// One row of the column table.
struct Entry {
    name: String,
    code: u8,
    offset: usize,
    count: usize,
}

/// The column table, read back in `columns_of` order.
struct Columns {
    map: Arc<Mmap>,
    entries: std::vec::IntoIter<Entry>,
}

impl Columns {
    /// The next column, which must be `name`, of type T, holding `count` values when given.
    fn next<T: Scalar>(&mut self, name: &str, count: Option<u64>) -> Result<Column<T>, String> {
        let entry = self
            .entries
            .next()
            .ok_or_else(|| format!("column {name} is missing"))?;
        if entry.name != name {
            return Err(format!("column {:?} where {name} belongs", entry.name));
        }
        if entry.code != T::CODE {
            return Err(format!("column {name} is not of type {}", T::NAME));
        }
        if let Some(count) = count {
            if entry.count as u64 != count {
                return Err(format!(
                    "column {name} holds {} values, the header says {count}",
                    entry.count
                ));
            }
        }
        Column::mapped(Arc::clone(&self.map), entry.offset, entry.count)
            .map_err(|why| format!("column {name}: {why}"))
    }

    fn strings(&mut self, name: &str, count: u64) -> Result<PackedStrings, String> {
        let blob = self.next::<u8>(&format!("{name}.blob"), None)?;
        let offsets = self.next::<u64>(&format!("{name}.offsets"), Some(count + 1))?;
        check_strings(name, &blob, &offsets)?;
        Ok(PackedStrings { blob, offsets })
    }
}

/// The snapshot in `path` and its stamp, or why the file cannot be used.
pub fn load(path: &Path, generation: u64) -> Result<(Snapshot, Vec<u8>), FileError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size < HEADER_BYTES as u64 {
        let mut start = [0u8; 8];
        let n = std::io::Read::read(&mut &file, &mut start)?;
        return Err(if n == 8 && start == MAGIC {
            invalid(format!("damaged: truncated to {size} bytes"))
        } else {
            invalid("not a snapshot file (too short)")
        });
    }
    // SAFETY: memmap2 requires that the file not be modified or truncated while mapped (the
    // bytes would change under `&[u8]`, or a read past a truncation would fault). The map is
    // read-only and private (PROT_READ, MAP_PRIVATE), so this process cannot write through it;
    // a private map does not shield it from other writers, so soundness rests on how snapshot
    // files are handled: `save` writes a new temporary path that the caller (service
    // SnapshotFiles.save) renames into place, and nothing writes a snapshot file after that;
    // a later save renames another inode over the name, leaving the mapped one untouched. The
    // map is shared in an Arc by the columns that view it and unmapped when the last one drops.
    // Every read of its bytes below is bounds-checked against the map's length.
    let map = unsafe { MmapOptions::new().map_copy_read_only(&file)? };
    drop(file);
    let (snapshot, stamp) = parse(Arc::new(map), generation).map_err(FileError::Invalid)?;
    Ok((snapshot, stamp))
}

fn parse(map: Arc<Mmap>, generation: u64) -> Result<(Snapshot, Vec<u8>), String> {
    let bytes: &[u8] = &map;
    if bytes.len() < HEADER_BYTES {
        return Err(format!("damaged: truncated to {} bytes", bytes.len()));
    }
    let mut fields = Fields { bytes, at: 0 };
    if fields.take::<8>() != MAGIC {
        return Err("not a snapshot file (no PFSNAP magic)".into());
    }
    let version = fields.u32();
    if version != FORMAT_VERSION {
        return Err(format!(
            "snapshot file format version {version}, this core reads version {FORMAT_VERSION}"
        ));
    }
    let stored_checksum = fields.u32();
    let file_len = fields.u64();
    if file_len != bytes.len() as u64 {
        return Err(format!(
            "damaged: the file is {} bytes, its header says {file_len}",
            bytes.len()
        ));
    }
    let checksum = crc32fast::hash(&bytes[CHECKSUMMED_FROM..]);
    if checksum != stored_checksum {
        return Err(format!(
            "damaged: checksum {checksum:08x}, the header says {stored_checksum:08x}"
        ));
    }
    let fingerprint = fields.take::<FINGERPRINT_BYTES>();
    if fingerprint != CODE_FINGERPRINT.as_bytes() {
        return Err(format!(
            "written by another version of the core (code fingerprint {}, this core is {CODE_FINGERPRINT})",
            String::from_utf8_lossy(&fingerprint).escape_debug()
        ));
    }
    let keying = Keying::from_bytes(fields.take());
    let counts = Counts {
        incidents: fields.u64(),
        parties: fields.u64(),
        agencies: fields.u64(),
        keys: fields.u64(),
        values: fields.u64(),
        areas: fields.u64(),
        vertices: fields.u64(),
    };
    if counts.as_array().iter().any(|&c| c > u64::from(u32::MAX)) {
        return Err("damaged: a count in the header exceeds the 32-bit ids".into());
    }
    let column_count = fields.u32() as usize;
    let _reserved = fields.u32();
    let stamp_len = fields.u64();
    let table_end = column_count
        .checked_mul(ENTRY_BYTES)
        .and_then(|n| n.checked_add(HEADER_BYTES))
        .filter(|&end| end <= bytes.len())
        .ok_or("damaged: the column table runs past the end of the file")?;
    let stamp_end = usize::try_from(stamp_len)
        .ok()
        .and_then(|n| n.checked_add(table_end))
        .filter(|&end| end <= bytes.len())
        .ok_or("damaged: the stamp runs past the end of the file")?;
    let stamp = bytes[table_end..stamp_end].to_vec();

    let mut entries = Vec::with_capacity(column_count);
    let mut previous_end = stamp_end;
    for i in 0..column_count {
        let mut row = Fields {
            bytes,
            at: HEADER_BYTES + i * ENTRY_BYTES,
        };
        let raw_name = row.take::<NAME_BYTES>();
        let code = row.take::<8>()[0];
        let (offset, count) = (row.u64(), row.u64());
        let name_len = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
        let name = String::from_utf8_lossy(&raw_name[..name_len]).into_owned();
        let size = element_size(code).ok_or(format!("column {name:?} has unknown type {code}"))?;
        let start =
            usize::try_from(offset).map_err(|_| format!("column {name:?} is out of bounds"))?;
        let end = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(size))
            .and_then(|n| n.checked_add(start))
            .filter(|&end| end <= bytes.len())
            .ok_or(format!("column {name:?} runs past the end of the file"))?;
        if start % COLUMN_ALIGN != 0 {
            return Err(format!(
                "column {name:?} at byte {start} is not 64-byte aligned"
            ));
        }
        if start < previous_end {
            return Err(format!("column {name:?} overlaps what precedes it"));
        }
        previous_end = end;
        entries.push(Entry {
            name,
            code,
            offset: start,
            count: count as usize,
        });
    }
    if column_count > 0 && previous_end != bytes.len() {
        return Err("damaged: bytes after the last column".into());
    }

    let mut columns = Columns {
        map: Arc::clone(&map),
        entries: entries.into_iter(),
    };
    let c = counts;
    let incident_ids = columns.strings("incident_ids", c.incidents)?;
    let id_hashes = columns.next::<u64>("id_hashes", Some(c.incidents))?;
    let id_rows = columns.next::<u32>("id_rows", Some(c.incidents))?;
    let versions = columns.next::<i64>("versions", Some(c.incidents))?;
    let kinds = columns.next::<u8>("kinds", Some(c.incidents))?;
    let substances = columns.next::<u8>("substances", Some(c.incidents))?;
    let channels = columns.next::<u8>("channels", Some(c.incidents))?;
    let reported_on = columns.next::<i32>("reported_on", Some(c.incidents))?;
    let reporting_countries = columns.next::<u16>("reporting_countries", Some(c.incidents))?;
    let agency_ids = columns.next::<u32>("agency_ids", Some(c.incidents))?;
    let agencies = columns.strings("agencies", c.agencies)?;
    let contact_refs = columns.strings("contact_refs", c.incidents)?;
    let party_incident = columns.next::<u32>("party_incident", Some(c.parties))?;
    let party_role = columns.next::<u8>("party_role", Some(c.parties))?;
    let party_point = columns.next::<[f64; 2]>("party_point", Some(c.parties))?;
    let party_country = columns.next::<u16>("party_country", Some(c.parties))?;
    let party_postcode = columns.next::<u32>("party_postcode", Some(c.parties))?;
    let party_city = columns.next::<u32>("party_city", Some(c.parties))?;
    let party_street = columns.next::<u32>("party_street", Some(c.parties))?;
    let party_street_words = columns.next::<u32>(
        "party_street_words",
        Some(c.parties * super::STREET_WORDS as u64),
    )?;
    let party_house = columns.next::<u32>("party_house", Some(c.parties))?;
    let party_names = columns.strings("party_names", c.parties)?;
    let postings = Postings::new(
        columns.next::<u64>("postings.keys", Some(c.keys))?,
        columns.next::<u32>("postings.starts", Some(c.keys + 1))?,
        columns.next::<u32>("postings.values", Some(c.values))?,
    );
    let cell_keys = columns.next::<u64>("cells.keys", None)?;
    let cell_starts = columns.next::<u32>("cells.starts", Some(cell_keys.len() as u64 + 1))?;
    let cell_values = columns.next::<u32>("cells.values", None)?;
    let located = cell_values.len() as u64;
    let cell_lat_e7 = columns.next::<i32>("cells.lat_e7", Some(located))?;
    let cell_lon_e7 = columns.next::<i32>("cells.lon_e7", Some(located))?;
    let cells = Postings::new(cell_keys, cell_starts, cell_values);
    let area_parties = columns.next::<u32>("areas.party_ids", Some(c.areas))?;
    let area_ends = columns.next::<u32>("areas.ends", Some(c.areas))?;
    let area_vertices = columns.next::<[f64; 2]>("areas.vertices", Some(c.vertices))?;
    if let Some(extra) = columns.entries.next() {
        return Err(format!("unexpected column {:?}", extra.name));
    }

    let (incidents, parties) = (c.incidents as usize, c.parties as usize);
    check_permutation("id_rows", &id_rows, incidents)?;
    check_ascending("id_hashes", &id_hashes, false)?;
    check_codes("kinds", &kinds, |x| {
        IncidentKind::try_from_code(x).is_some()
    })?;
    check_codes("substances", &substances, |x| {
        SubstanceClass::try_from_code(x).is_some()
    })?;
    check_codes("channels", &channels, |x| {
        Channel::try_from_code(x).is_some()
    })?;
    check_codes("party_role", &party_role, |x| {
        PartyRole::try_from_code(x).is_some()
    })?;
    check_below("agency_ids", &agency_ids, agencies.len())?;
    check_below("party_incident", &party_incident, incidents)?;
    check_ascending("party_incident", &party_incident, false)?;
    check_postings("postings", &postings, parties)?;
    check_postings("cells", &cells, parties)?;
    check_below("areas.party_ids", &area_parties, parties)?;
    check_ascending("areas.party_ids", &area_parties, true)?;
    check_ends("areas.ends", &area_ends, area_vertices.len())?;
    if area_vertices.iter().flatten().any(|v| !v.is_finite()) {
        return Err("areas.vertices holds a coordinate that is not finite".into());
    }

    let areas = AreaIndex::new(
        area_parties.to_vec(),
        area_ends.to_vec(),
        area_vertices.to_vec(),
    );
    let snapshot = Snapshot {
        generation,
        keying,
        incident_ids,
        id_hashes,
        id_rows,
        versions,
        kinds,
        substances,
        channels,
        reported_on,
        reporting_countries,
        agency_ids,
        agencies,
        contact_refs,
        party_incident,
        party_role,
        party_point,
        party_country,
        party_postcode,
        party_city,
        party_street,
        party_street_words,
        party_house,
        party_names,
        postings,
        cells,
        cell_lat_e7,
        cell_lon_e7,
        areas,
        log_parties: log_parties(parties),
    };
    Ok((snapshot, stamp))
}

/// Offsets from 0, never decreasing, ending at the blob's end; the blob UTF-8 and every offset
/// on a character boundary, so every string is UTF-8 (`PackedStrings::get` relies on it).
fn check_strings(name: &str, blob: &[u8], offsets: &[u64]) -> Result<(), String> {
    if offsets.first() != Some(&0) {
        return Err(format!("{name}: the first offset is not 0"));
    }
    if offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!("{name}: offsets decrease"));
    }
    if offsets.last() != Some(&(blob.len() as u64)) {
        return Err(format!("{name}: the last offset is not the blob's end"));
    }
    let text = std::str::from_utf8(blob).map_err(|e| format!("{name}: not UTF-8 ({e})"))?;
    if !offsets.iter().all(|&o| text.is_char_boundary(o as usize)) {
        return Err(format!("{name}: an offset splits a character"));
    }
    Ok(())
}

fn check_below(name: &str, ids: &[u32], bound: usize) -> Result<(), String> {
    match ids.iter().find(|&&id| id as usize >= bound) {
        Some(id) => Err(format!("{name}: id {id} out of range (< {bound})")),
        None => Ok(()),
    }
}

fn check_ascending<T: PartialOrd>(name: &str, values: &[T], strictly: bool) -> Result<(), String> {
    let bad = values
        .windows(2)
        .any(|w| if strictly { w[0] >= w[1] } else { w[0] > w[1] });
    if bad {
        Err(format!("{name}: not in ascending order"))
    } else {
        Ok(())
    }
}

fn check_codes(name: &str, codes: &[u8], known: impl Fn(u8) -> bool) -> Result<(), String> {
    match codes.iter().find(|&&code| !known(code)) {
        Some(code) => Err(format!("{name}: unknown code {code}")),
        None => Ok(()),
    }
}

/// Every row exactly once.
fn check_permutation(name: &str, rows: &[u32], count: usize) -> Result<(), String> {
    check_below(name, rows, count)?;
    let mut seen = vec![false; count];
    for &row in rows {
        if std::mem::replace(&mut seen[row as usize], true) {
            return Err(format!("{name}: row {row} twice"));
        }
    }
    Ok(())
}

/// Ends of consecutive ranges: never decreasing, the last one `total` (0 ranges: total 0).
fn check_ends(name: &str, ends: &[u32], total: usize) -> Result<(), String> {
    check_ascending(name, ends, false)?;
    let last = ends.last().map_or(0, |&end| end as usize);
    if last != total {
        return Err(format!("{name}: ranges end at {last}, not at {total}"));
    }
    Ok(())
}

/// Keys strictly ascending; starts from 0, strictly ascending (no key without a value), ending
/// at the values' end; each key's party ids strictly ascending and in range.
fn check_postings(name: &str, postings: &Postings, parties: usize) -> Result<(), String> {
    check_ascending(&format!("{name}.keys"), &postings.keys, true)?;
    let starts = &postings.starts;
    if starts.first() != Some(&0) {
        return Err(format!("{name}.starts: the first start is not 0"));
    }
    check_ascending(&format!("{name}.starts"), starts, true)?;
    if starts.last().map(|&s| s as usize) != Some(postings.values.len()) {
        return Err(format!(
            "{name}.starts: the last start is not the values' end"
        ));
    }
    let values = format!("{name}.values");
    check_below(&values, &postings.values, parties)?;
    for w in starts.windows(2) {
        check_ascending(
            &values,
            &postings.values[w[0] as usize..w[1] as usize],
            true,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
