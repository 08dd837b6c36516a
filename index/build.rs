//! The code fingerprint: FNV-1a 64 over every file under src/ (sorted paths, each path and
//! its contents) and Cargo.lock. A snapshot file records the fingerprint of the code that
//! wrote it, and the core refuses a file written by other code: index keys depend on the
//! normalisation code, so a file from another build may file names under other keys.

use std::fs;
use std::path::{Path, PathBuf};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

struct Fnv1a(u64);

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// A length-prefixed field, so that moving bytes between fields changes the hash.
    fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
}

/// Every file below `dir` as (path relative to the crate, '/'-separated), skipping dot-files
/// (editor swap files and the like are not code).
fn files_under(dir: &Path, relative: &str, out: &mut Vec<(String, PathBuf)>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = format!("{relative}/{name}");
        if path.is_dir() {
            files_under(&path, &rel, out);
        } else {
            out.push((rel, path));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = Vec::new();
    files_under(&root.join("src"), "src", &mut files);
    files.sort();
    let mut hash = Fnv1a(FNV_OFFSET);
    for (rel, path) in &files {
        let contents =
            fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        hash.field(rel.as_bytes());
        hash.field(&contents);
    }
    let lock = root.join("Cargo.lock");
    match fs::read(&lock) {
        Ok(contents) => {
            hash.field(b"Cargo.lock");
            hash.field(&contents);
        }
        Err(_) => hash.field(b"no Cargo.lock"),
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rustc-env=PREFLIGHT_CODE_FINGERPRINT={:016x}", hash.0);
}
