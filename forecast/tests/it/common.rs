//! Helpers shared by the forecast tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// A fixture file: `fixtures/<folder>/<name>`.
pub fn fixture(folder: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(folder)
        .join(name)
}

/// An RFC 3339 instant.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A CSV file in a temporary folder, removed when dropped.
pub struct TempCsv {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempCsv {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempCsv {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Writes `text` to a temporary CSV file `name`.
pub fn temp_csv(name: &str, text: &str) -> TempCsv {
    let dir = tempfile::Builder::new()
        .prefix("arbiter-forecast-")
        .tempdir()
        .unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    TempCsv { path, _dir: dir }
}
