//! The bridge's virtual paths: every path a client names is resolved
//! against the current directory into one normalised absolute path, so
//! the driver only ever sees `/a/b`, never `.`, `..` or `//`.

use std::fmt;

/// A normalised absolute path: starts with `/`, has no empty, `.` or `..`
/// components and no trailing `/` (except the root itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// `path` normalised as if resolved from the root; for a driver's
    /// starting directory (the SSH user's home, say).
    pub fn absolute(path: &str) -> Self {
        Self::root().resolve(path)
    }

    /// `argument` resolved against `self`: absolute if it starts with `/`,
    /// relative otherwise; `..` above the root stays at the root, as a
    /// chroot does, so no argument escapes the tree the driver maps.
    pub fn resolve(&self, argument: &str) -> Self {
        let mut components: Vec<&str> =
            if argument.starts_with('/') { Vec::new() } else { self.components().collect() };
        for component in argument.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    components.pop();
                }
                name => components.push(name),
            }
        }
        Self(format!("/{}", components.join("/")))
    }

    /// The directory above, or the root for the root.
    pub fn parent(&self) -> Self {
        self.resolve("..")
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components from the root down.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path as a 257 reply quotes it (RFC 959 Appendix II): in double
    /// quotes, with quotes inside doubled.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resolution_table() {
        let home = VirtualPath::absolute("/home/ann");
        for (argument, expected) in [
            ("docs", "/home/ann/docs"),
            ("docs/", "/home/ann/docs"),
            ("./docs/./a", "/home/ann/docs/a"),
            ("..", "/home"),
            ("../..", "/"),
            // `..` is clamped at the root rather than refused.
            ("../../../../etc", "/etc"),
            ("/", "/"),
            ("//", "/"),
            ("/tmp//x///y", "/tmp/x/y"),
            ("/tmp/../..", "/"),
            ("a b/c d", "/home/ann/a b/c d"),
            (" lead", "/home/ann/ lead"),
            ("trail ", "/home/ann/trail "),
            ("ünïcödé/日本", "/home/ann/ünïcödé/日本"),
            ("...", "/home/ann/..."),
            ("..a/b..", "/home/ann/..a/b.."),
            ("", "/home/ann"),
            (".", "/home/ann"),
        ] {
            assert_eq!(home.resolve(argument).as_str(), expected, "{argument:?}");
        }
    }

    #[test]
    fn parents_names_and_quoting() {
        assert_eq!(VirtualPath::absolute("/a/b").parent().as_str(), "/a");
        assert_eq!(VirtualPath::root().parent(), VirtualPath::root());
        assert_eq!(VirtualPath::absolute("/a/b c").file_name(), Some("b c"));
        assert_eq!(VirtualPath::root().file_name(), None);
        assert!(VirtualPath::absolute("/..").is_root());
        assert_eq!(VirtualPath::absolute("/say \"hi\"").quoted(), "\"/say \"\"hi\"\"\"");
    }

    fn path_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof!["", ".", "..", "a", "b c", "ü", "\"", "...", " "], 0..12)
            .prop_map(|parts| parts.join("/"))
            .prop_flat_map(|p| prop_oneof![Just(p.clone()), Just(format!("/{p}"))])
    }

    proptest! {
        #[test]
        fn resolved_paths_are_normal(start in path_text(), argument in path_text()) {
            let resolved = VirtualPath::absolute(&start).resolve(&argument);
            let text = resolved.as_str();
            prop_assert!(text.starts_with('/'));
            prop_assert!(text == "/" || !text.ends_with('/'));
            prop_assert!(!text.contains("//"));
            prop_assert!(resolved.components().all(|c| c != "." && c != ".."));
            // Resolving again changes nothing.
            prop_assert_eq!(&VirtualPath::absolute(text), &resolved);
        }

        #[test]
        fn any_text_resolves_without_panic(argument in ".*") {
            let resolved = VirtualPath::root().resolve(&argument);
            prop_assert!(resolved.as_str().starts_with('/'));
        }
    }
}
