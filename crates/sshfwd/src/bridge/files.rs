//! The session's file operations and attributes, done over SFTP, with
//! sftp-client's errors sorted into the kinds the FTP replies tell apart.

use ftp_proto::server::{Entry, FileOperation, FsError, Kind, VirtualPath};
use sftp_client::{DirEntry, Error, Metadata, SftpSession};

/// The FTP reply's view of an SFTP failure.
pub fn fs_error(error: &Error) -> FsError {
    match error {
        Error::NoSuchFile { .. } => FsError::NotFound,
        Error::PermissionDenied { .. } => FsError::PermissionDenied,
        Error::DiskFull { .. } => FsError::DiskFull,
        Error::ConnectionLost => FsError::ConnectionLost,
        Error::Unsupported { .. } => FsError::Other("operation not supported by the SSH server".into()),
        Error::Failure { message, .. } => FsError::Other(message.clone()),
        Error::Protocol(message) => FsError::Other(format!("sftp protocol error: {message}")),
        Error::Local(error) => FsError::Other(error.to_string()),
    }
}

/// Performs `operation`.
pub async fn operate(sftp: &SftpSession, operation: &FileOperation) -> Result<(), FsError> {
    let result = match operation {
        FileOperation::ChangeDir(path) => {
            let metadata = sftp.stat(path.as_str()).await.map_err(|e| fs_error(&e))?;
            return if metadata.is_dir() { Ok(()) } else { Err(FsError::NotADirectory) };
        }
        FileOperation::MakeDir(path) => {
            let result = sftp.mkdir(path.as_str()).await;
            // OpenSSH answers an existing path with the bare "Failure".
            if matches!(result, Err(Error::Failure { .. })) && sftp.lstat(path.as_str()).await.is_ok() {
                return Err(FsError::AlreadyExists);
            }
            result
        }
        FileOperation::RemoveDir(path) => sftp.rmdir(path.as_str()).await,
        FileOperation::Delete(path) => {
            let result = sftp.remove(path.as_str()).await;
            if matches!(result, Err(Error::Failure { .. }))
                && sftp.lstat(path.as_str()).await.is_ok_and(|metadata| metadata.is_dir())
            {
                return Err(FsError::IsADirectory);
            }
            result
        }
        FileOperation::Rename { from, to } => sftp.rename(from.as_str(), to.as_str()).await,
        FileOperation::Chmod { mode, path } => sftp.set_permissions(path.as_str(), *mode).await,
    };
    result.map_err(|e| fs_error(&e))
}

/// One file's facts, following symbolic links.
pub async fn stat(sftp: &SftpSession, path: &VirtualPath) -> Result<Entry, FsError> {
    let metadata = sftp.stat(path.as_str()).await.map_err(|e| fs_error(&e))?;
    Ok(entry(path.file_name().unwrap_or("/"), &metadata, None))
}

/// A directory's entries, or, for a file (LIST, NLST), the file alone;
/// with `link_targets` (LIST, MLSD), where each symbolic link points.
pub async fn list(
    sftp: &SftpSession,
    path: &VirtualPath,
    files_too: bool,
    link_targets: bool,
) -> Result<Vec<Entry>, FsError> {
    let metadata = sftp.stat(path.as_str()).await.map_err(|e| fs_error(&e))?;
    if !metadata.is_dir() {
        return if files_too {
            Ok(vec![entry(path.file_name().unwrap_or("/"), &metadata, None)])
        } else {
            Err(FsError::NotADirectory)
        };
    }
    let entries = sftp.read_dir(path.as_str()).await.map_err(|e| fs_error(&e))?;
    let mut entries: Vec<Entry> = entries.iter().map(dir_entry).collect();
    if link_targets {
        read_link_targets(sftp, path, &mut entries).await;
    }
    Ok(entries)
}

/// Fills in `link_target` for `name -> target`, as `ls -l` shows links. A
/// link whose target cannot be read (gone, or not readable) is listed
/// without one: one odd entry must not fail the listing.
async fn read_link_targets(sftp: &SftpSession, dir: &VirtualPath, entries: &mut [Entry]) {
    let links: Vec<&mut Entry> = entries.iter_mut().filter(|entry| entry.kind == Kind::Symlink).collect();
    if links.is_empty() {
        return;
    }
    let paths: Vec<String> = links.iter().map(|link| dir.resolve(&link.name).to_string()).collect();
    let targets = sftp.read_links(&paths).await;
    for (link, target) in links.into_iter().zip(targets) {
        link.link_target = target.ok();
    }
}

fn dir_entry(dir_entry: &DirEntry) -> Entry {
    entry(&dir_entry.name, &dir_entry.metadata, Some(&dir_entry.long_name))
}

/// `long_name` is the server's `ls -l` line, when it sends one: the only
/// place SFTP v3 names the owner and group.
fn entry(name: &str, metadata: &Metadata, long_name: Option<&str>) -> Entry {
    let kind = if metadata.is_dir() {
        Kind::Directory
    } else if metadata.is_file() {
        Kind::File
    } else if metadata.is_symlink() {
        Kind::Symlink
    } else if metadata.mode.is_some() {
        Kind::Other
    } else {
        Kind::File
    };
    let mut fields = long_name.unwrap_or_default().split_whitespace().skip(2);
    let (owner_name, group_name) = (fields.next(), fields.next());
    Entry {
        name: name.to_owned(),
        kind,
        size: metadata.size.unwrap_or(0),
        modified: metadata.mtime.map(i64::from),
        mode: metadata.permissions(),
        owner: owner_name.map(str::to_owned).or_else(|| metadata.uid.map(|uid| uid.to_string())),
        group: group_name.map(str::to_owned).or_else(|| metadata.gid.map(|gid| gid.to_string())),
        link_target: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sort_into_reply_kinds() {
        let path = || "/p".to_owned();
        let cases = [
            (Error::NoSuchFile { path: path() }, FsError::NotFound),
            (Error::PermissionDenied { path: path() }, FsError::PermissionDenied),
            (Error::DiskFull { path: path() }, FsError::DiskFull),
            (Error::ConnectionLost, FsError::ConnectionLost),
            (Error::Failure { path: path(), code: 4, message: "Failure".into() }, FsError::Other("Failure".into())),
        ];
        for (error, want) in cases {
            assert_eq!(fs_error(&error), want, "{error}");
        }
    }

    #[test]
    fn entries_from_attributes() {
        let metadata =
            Metadata { size: Some(5), mode: Some(0o100640), mtime: Some(7), uid: Some(1000), ..Metadata::default() };
        let from_long = entry("a", &metadata, Some("-rw-r-----    1 ann      users           5 Nov 26 01:23 a"));
        assert_eq!(
            (from_long.kind, from_long.size, from_long.mode, from_long.modified),
            (Kind::File, 5, Some(0o640), Some(7))
        );
        assert_eq!((from_long.owner.as_deref(), from_long.group.as_deref()), (Some("ann"), Some("users")));
        let bare = entry("a", &metadata, None);
        assert_eq!((bare.owner.as_deref(), bare.group), (Some("1000"), None));
        let dir = entry("d", &Metadata { mode: Some(0o040755), ..Metadata::default() }, None);
        assert_eq!(dir.kind, Kind::Directory);
    }
}
