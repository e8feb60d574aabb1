//! File attributes as this crate's own types, so that callers need not
//! import russh-sftp.

use russh_sftp::protocol::{File, FileAttributes};

/// The mask and values of the file type in `st_mode`.
const TYPE_MASK: u32 = 0o170000;
const TYPE_DIR: u32 = 0o040000;
const TYPE_FILE: u32 = 0o100000;
const TYPE_SYMLINK: u32 = 0o120000;

/// What the server told of a file; SFTP v3 makes every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Size in bytes.
    pub size: Option<u64>,
    /// Owner's numeric id.
    pub uid: Option<u32>,
    /// Group's numeric id.
    pub gid: Option<u32>,
    /// `st_mode`: the file type and the permission bits.
    pub mode: Option<u32>,
    /// Last access, seconds since the epoch.
    pub atime: Option<u32>,
    /// Last modification, seconds since the epoch (FTP MDTM).
    pub mtime: Option<u32>,
}

impl Metadata {
    /// Whether the mode says directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == Some(TYPE_DIR)
    }

    /// Whether the mode says regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == Some(TYPE_FILE)
    }

    /// Whether the mode says symbolic link (only `lstat` and listings show one).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == Some(TYPE_SYMLINK)
    }

    /// The permission bits alone (`0o755`).
    pub fn permissions(&self) -> Option<u32> {
        self.mode.map(|mode| mode & 0o7777)
    }

    fn file_type(&self) -> Option<u32> {
        self.mode.map(|mode| mode & TYPE_MASK)
    }
}

impl From<&FileAttributes> for Metadata {
    fn from(attrs: &FileAttributes) -> Self {
        Metadata {
            size: attrs.size,
            uid: attrs.uid,
            gid: attrs.gid,
            mode: attrs.permissions,
            atime: attrs.atime,
            mtime: attrs.mtime,
        }
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name within the directory (lossy UTF-8).
    pub name: String,
    /// The server's `ls -l` line for it (OpenSSH fills it; others may not).
    pub long_name: String,
    /// Its attributes, as `lstat` gives them (a symlink is not followed).
    pub metadata: Metadata,
}

impl From<File> for DirEntry {
    fn from(file: File) -> Self {
        DirEntry { metadata: Metadata::from(&file.attrs), name: file.filename, long_name: file.longname }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types() {
        let of = |mode| Metadata { mode: Some(mode), ..Metadata::default() };
        assert!(of(0o040755).is_dir());
        assert!(of(0o100644).is_file());
        assert!(of(0o120777).is_symlink());
        assert_eq!(of(0o104755).permissions(), Some(0o4755));
        assert!(!Metadata::default().is_dir());
    }
}
