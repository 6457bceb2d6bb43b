//! The state directory's manifest: which files must be there. Without it a deleted table file
//! or log would look like a first start, and the router would come up empty without a word.
//!
//! It is rewritten (to a temporary file, synced, renamed) when a log file is started, closed or
//! folded into the tables. The order keeps it from ever listing more than the truth requires: a
//! log is listed before it is created, and unlisted before it is deleted. A log on disk that the
//! manifest does not list (its update failed) is still replayed.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(super) const MANIFEST_FILE: &str = "MANIFEST.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Log files not yet folded into the tables, by generation, with the size of each closed
    /// one (an open one grows, so it has none).
    pub logs: BTreeMap<u64, Option<u64>>,
}

impl Manifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// The manifest in `dir`: `Ok(None)` if there is none (a new directory, or one written by a
    /// release before manifests), an error if it cannot be read.
    pub fn load(dir: &Path) -> Result<Option<Manifest>, String> {
        let path = Manifest::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Replaces the manifest in `dir` atomically and durably.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, Manifest::path(dir))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), None);
        let mut m = Manifest::default();
        m.logs.insert(3, Some(1000));
        m.logs.insert(4, None);
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m));
        std::fs::write(Manifest::path(dir.path()), b"{\"logs\": [").unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(err.contains(MANIFEST_FILE), "{err}");
    }
}
