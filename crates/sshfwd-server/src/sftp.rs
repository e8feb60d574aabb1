//! The `sftp` subsystem, confined to one directory.
//!
//! The client sees the root directory as `/`. Every path is normalised
//! lexically first (`.` dropped, `..` removes one component), and a path
//! whose `..` would climb above the root is refused. Then the real location
//! is checked: the parent directory is canonicalised (resolving every
//! symlink) and must lie inside the canonical root; when an operation
//! follows the last component (open, stat, opendir, setstat) and that is a
//! symlink, its target must lie inside the root too, and a dangling symlink
//! is refused (opening it with O_CREAT would create a file wherever it
//! points). lstat, remove, rename and rmdir act on the link itself.
//!
//! Not defended against: a concurrent local process swapping a checked
//! directory for a symlink between the check and the use.

use std::collections::{HashMap, VecDeque};
use std::io::SeekFrom;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use russh_sftp::protocol::{Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode};
use russh_sftp::server::StatusReply;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Longest read answered at once.
const MAX_READ: u32 = 256 * 1024;
/// Names per readdir answer.
const NAMES_PER_READDIR: usize = 100;
/// Open handles per session.
const MAX_HANDLES: usize = 512;

/// One SFTP session over a root directory.
pub struct SftpSession {
    /// The canonical root; every real path used starts with it.
    root: PathBuf,
    /// Who is logged in, for log lines.
    user: String,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
}

enum OpenHandle {
    File { file: tokio::fs::File, path: PathBuf },
    Dir { entries: VecDeque<File> },
}

impl SftpSession {
    /// A session for `user` rooted at `root` (canonicalised here).
    pub fn new(root: &Path, user: &str) -> std::io::Result<Self> {
        Ok(Self { root: std::fs::canonicalize(root)?, user: user.to_owned(), handles: HashMap::new(), next_handle: 0 })
    }

    /// `stat` (following a final symlink) or `lstat` of the client's `path`.
    async fn attributes_of(&self, id: u32, path: &str, follow_last: bool) -> Result<Attrs, StatusReply> {
        let real = self.resolve(path, follow_last).await?;
        let meta =
            if follow_last { tokio::fs::metadata(&real).await } else { tokio::fs::symlink_metadata(&real).await };
        Ok(Attrs { id, attrs: attributes(&meta.map_err(io_status)?) })
    }

    /// The real path for the client's `path`; see the module comment.
    async fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, StatusReply> {
        let parts = normalize(path).ok_or_else(|| self.escape(path))?;
        let Some((last, parents)) = parts.split_last() else {
            return Ok(self.root.clone());
        };
        let parent: PathBuf = self.root.join(parents.iter().collect::<PathBuf>());
        let parent = tokio::fs::canonicalize(&parent).await.map_err(io_status)?;
        if !parent.starts_with(&self.root) {
            return Err(self.escape(path));
        }
        let candidate = parent.join(last);
        if !follow_last {
            return Ok(candidate);
        }
        match tokio::fs::symlink_metadata(&candidate).await {
            Ok(meta) if meta.file_type().is_symlink() => match tokio::fs::canonicalize(&candidate).await {
                Ok(real) if real.starts_with(&self.root) => Ok(real),
                Ok(_) => Err(self.escape(path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.escape(path)),
                Err(e) => Err(io_status(e)),
            },
            _ => Ok(candidate),
        }
    }

    fn escape(&self, path: &str) -> StatusReply {
        tracing::warn!("sftp: refused {path:?} for {}: outside the sftp root", self.user);
        StatusCode::PermissionDenied.with_message("path is outside the sftp root")
    }

    /// The client's name for a real path inside the root.
    fn virtual_path(&self, real: &Path) -> String {
        let relative = real.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut out = String::from("/");
        let parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        out.push_str(&parts.join("/"));
        out
    }

    fn add_handle(&mut self, handle: OpenHandle) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure.with_message("too many open handles"));
        }
        self.next_handle += 1;
        let name = self.next_handle.to_string();
        self.handles.insert(name.clone(), handle);
        Ok(name)
    }

    fn file(&mut self, handle: &str) -> Result<&mut tokio::fs::File, StatusReply> {
        match self.handles.get_mut(handle) {
            Some(OpenHandle::File { file, .. }) => Ok(file),
            _ => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }
}

/// Lexical normalisation; `None` when `..` climbs above the root.
fn normalize(path: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for part in Path::new(path).components() {
        match part {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
        }
    }
    Some(parts)
}

fn io_status(e: std::io::Error) -> StatusReply {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    code.with_message(e.to_string())
}

fn ok(id: u32) -> Status {
    Status { id, status_code: StatusCode::Ok, error_message: "Ok".to_owned(), language_tag: "en-US".to_owned() }
}

fn attributes(meta: &std::fs::Metadata) -> FileAttributes {
    let mut attrs = FileAttributes::from(meta);
    // Keep the real file type bits (symlinks show as links under lstat).
    attrs.permissions = Some(meta.permissions().mode());
    attrs
}

async fn apply_attributes(path: &Path, attrs: &FileAttributes) -> Result<(), StatusReply> {
    if let Some(mode) = attrs.permissions {
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777)).await.map_err(io_status)?;
    }
    if let Some(size) = attrs.size {
        let file = tokio::fs::OpenOptions::new().write(true).open(path).await.map_err(io_status)?;
        file.set_len(size).await.map_err(io_status)?;
    }
    // Owner and times are left alone.
    Ok(())
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let path = self.resolve(&filename, true).await?;
        let mut options = tokio::fs::OpenOptions::new();
        options
            .read(pflags.contains(OpenFlags::READ))
            .write(pflags.contains(OpenFlags::WRITE) || pflags.contains(OpenFlags::APPEND))
            .append(pflags.contains(OpenFlags::APPEND))
            .truncate(pflags.contains(OpenFlags::TRUNCATE))
            .mode(attrs.permissions.map_or(0o644, |m| m & 0o777));
        if pflags.contains(OpenFlags::CREATE) {
            if pflags.contains(OpenFlags::EXCLUDE) {
                options.create_new(true);
            } else {
                options.create(true);
            }
        }
        let file = options.open(&path).await.map_err(io_status)?;
        if file.metadata().await.map_err(io_status)?.is_dir() {
            return Err(StatusCode::Failure.with_message("is a directory"));
        }
        tracing::debug!("sftp: {} opened {}", self.user, self.virtual_path(&path));
        let handle = self.add_handle(OpenHandle::File { file, path })?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(OpenHandle::File { mut file, path }) => {
                file.flush().await.map_err(io_status)?;
                tracing::debug!("sftp: {} closed {}", self.user, self.virtual_path(&path));
                Ok(ok(id))
            }
            Some(OpenHandle::Dir { .. }) => Ok(ok(id)),
            None => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Result<Data, Self::Error> {
        let file = self.file(&handle)?;
        file.seek(SeekFrom::Start(offset)).await.map_err(io_status)?;
        let want = usize::try_from(len.min(MAX_READ)).unwrap_or(0);
        let mut data = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            let n = file.read(data.get_mut(filled..).unwrap_or_default()).await.map_err(io_status)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 && want > 0 {
            return Err(StatusCode::Eof.into());
        }
        data.truncate(filled);
        Ok(Data { id, data })
    }

    async fn write(&mut self, id: u32, handle: String, offset: u64, data: Vec<u8>) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        file.seek(SeekFrom::Start(offset)).await.map_err(io_status)?;
        file.write_all(&data).await.map_err(io_status)?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.attributes_of(id, &path, false).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let meta = self.file(&handle)?.metadata().await.map_err(io_status)?;
        Ok(Attrs { id, attrs: attributes(&meta) })
    }

    async fn setstat(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let real = self.resolve(&path, true).await?;
        apply_attributes(&real, &attrs).await?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let path = match self.handles.get(&handle) {
            Some(OpenHandle::File { path, .. }) => path.clone(),
            _ => return Err(StatusCode::Failure.with_message("invalid handle")),
        };
        apply_attributes(&path, &attrs).await?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let real = self.resolve(&path, true).await?;
        let mut reader = tokio::fs::read_dir(&real).await.map_err(io_status)?;
        let mut entries = VecDeque::new();
        while let Some(entry) = reader.next_entry().await.map_err(io_status)? {
            let Ok(meta) = entry.metadata().await else { continue };
            entries.push_back(File::new(entry.file_name().to_string_lossy(), attributes(&meta)));
        }
        let handle = self.add_handle(OpenHandle::Dir { entries })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let Some(OpenHandle::Dir { entries }) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("invalid handle"));
        };
        if entries.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        let count = entries.len().min(NAMES_PER_READDIR);
        Ok(Name { id, files: entries.drain(..count).collect() })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let real = self.resolve(&filename, false).await?;
        tokio::fs::remove_file(&real).await.map_err(io_status)?;
        tracing::debug!("sftp: {} removed {}", self.user, self.virtual_path(&real));
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let real = self.resolve(&path, false).await?;
        let mut builder = tokio::fs::DirBuilder::new();
        builder.mode(attrs.permissions.map_or(0o755, |m| m & 0o777));
        builder.create(&real).await.map_err(io_status)?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let real = self.resolve(&path, false).await?;
        if real == self.root {
            return Err(StatusCode::PermissionDenied.with_message("cannot remove the sftp root"));
        }
        tokio::fs::remove_dir(&real).await.map_err(io_status)?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let real = self.resolve(&path, true).await?;
        let shown = match tokio::fs::canonicalize(&real).await {
            Ok(canonical) if canonical.starts_with(&self.root) => self.virtual_path(&canonical),
            Ok(_) => return Err(self.escape(&path)),
            Err(_) => self.virtual_path(&real),
        };
        Ok(Name { id, files: vec![File::dummy(shown)] })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.attributes_of(id, &path, true).await
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, Self::Error> {
        let from = self.resolve(&oldpath, false).await?;
        let to = self.resolve(&newpath, false).await?;
        if from == self.root {
            return Err(StatusCode::PermissionDenied.with_message("cannot rename the sftp root"));
        }
        // SFTP v3: renaming onto an existing name is an error.
        if tokio::fs::symlink_metadata(&to).await.is_ok() {
            return Err(StatusCode::Failure.with_message("target exists"));
        }
        tokio::fs::rename(&from, &to).await.map_err(io_status)?;
        tracing::debug!("sftp: {} renamed {} to {}", self.user, self.virtual_path(&from), self.virtual_path(&to));
        Ok(ok(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::server::Handler as _;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("/a/./b/../c").unwrap(), vec!["a", "c"]);
        assert_eq!(normalize("a/b/..").unwrap(), vec!["a"]);
        assert_eq!(normalize("").unwrap(), Vec::<String>::new());
        assert_eq!(normalize("/").unwrap(), Vec::<String>::new());
        assert!(normalize("/../etc/passwd").is_none());
        assert!(normalize("a/../../x").is_none());
    }

    #[tokio::test]
    async fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("inside"), b"inside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("to-secret")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("to-outside")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("missing"), root.path().join("dangling")).unwrap();
        std::os::unix::fs::symlink("inside", root.path().join("to-inside")).unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        let denied =
            |r: Result<Attrs, StatusReply>| matches!(r, Err(e) if e.status_code == StatusCode::PermissionDenied);
        assert!(denied(sftp.stat(1, "/to-secret".into()).await));
        assert!(denied(sftp.stat(1, "/to-outside/secret".into()).await));
        assert!(denied(sftp.stat(1, "../secret".into()).await));
        assert!(sftp.stat(1, "/to-inside".into()).await.is_ok());
        // lstat shows the link itself.
        assert!(sftp.lstat(1, "/to-secret".into()).await.is_ok());
        let open =
            sftp.open(1, "/dangling".into(), OpenFlags::WRITE | OpenFlags::CREATE, FileAttributes::default()).await;
        assert!(matches!(open, Err(e) if e.status_code == StatusCode::PermissionDenied));
        assert!(!outside.path().join("missing").exists());
        assert!(sftp.opendir(1, "/to-outside".into()).await.is_err());
        // Removing the link removes the link, not its target.
        sftp.remove(1, "/to-secret".into()).await.unwrap();
        assert!(outside.path().join("secret").exists());
        let real = sftp.realpath(1, "/a/../.".into()).await.unwrap();
        assert_eq!(real.files[0].filename, "/");
    }
}
