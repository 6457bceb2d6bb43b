//! File patterns in the config (`templates:`, `rule_files:`): a `*` in the last path component.

use std::io;
use std::path::{Path, PathBuf};

/// The files a pattern names, sorted: those matching `prefix*suffix` in its folder when the
/// last component has a `*`, else the path itself.
pub fn matching_files(pattern: &Path) -> io::Result<Vec<PathBuf>> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Ok(vec![pattern.to_path_buf()]);
    };
    if suffix.contains('*') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only one * in a file name is supported",
        ));
    }
    let dir = pattern
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| {
                    n.len() >= prefix.len() + suffix.len()
                        && n.starts_with(prefix)
                        && n.ends_with(suffix)
                })
        })
        .collect();
    out.sort();
    Ok(out)
}
