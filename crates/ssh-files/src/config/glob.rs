//! Just enough of glob(3) for `Include`: `*` and `?` in any path component,
//! no match for hidden names unless the pattern starts with `.`, results
//! sorted, unreadable directories skipped.

use std::path::{Component, Path, PathBuf};

use crate::pattern;

/// The existing paths that match `pattern`, sorted. A pattern without
/// wildcards matches itself when it exists.
pub(crate) fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = match component {
            Component::Normal(part) => part,
            other => {
                for candidate in &mut candidates {
                    candidate.push(other.as_os_str());
                }
                continue;
            }
        };
        let text = part.to_string_lossy();
        if !text.contains(['*', '?']) {
            for candidate in &mut candidates {
                candidate.push(part);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &candidates {
            let listing = if dir.as_os_str().is_empty() { std::fs::read_dir(".") } else { std::fs::read_dir(dir) };
            let Ok(entries) = listing else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name_text = name.to_string_lossy();
                if name_text.starts_with('.') && !text.starts_with('.') {
                    continue;
                }
                if pattern::wildcard(&name_text, &text) {
                    next.push(dir.join(&name));
                }
            }
        }
        candidates = next;
    }
    let mut found: Vec<PathBuf> = candidates.into_iter().filter(|p| p.exists()).collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn matches_files_sorted_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("config.d");
        fs::create_dir(&d).unwrap();
        for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
            fs::write(d.join(name), "").unwrap();
        }
        fs::create_dir(dir.path().join("sub1")).unwrap();
        fs::write(dir.path().join("sub1/x.conf"), "").unwrap();

        assert_eq!(glob(&d.join("*.conf")), vec![d.join("a.conf"), d.join("b.conf")]);
        assert_eq!(glob(&d.join("?.txt")), vec![d.join("c.txt")]);
        assert_eq!(glob(&d.join(".*.conf")), vec![d.join(".hidden.conf")]);
        assert_eq!(glob(&dir.path().join("sub?/*.conf")), vec![dir.path().join("sub1/x.conf")]);
        assert_eq!(glob(&d.join("a.conf")), vec![d.join("a.conf")]);
        assert!(glob(&d.join("missing")).is_empty());
        assert!(glob(&dir.path().join("nodir/*")).is_empty());
    }
}
