//! The `sftp` subsystem, confined to one directory.
//!
//! The client sees the root directory as `/`. A client path is first made
//! relative to the root lexically (`.` dropped, `..` removes one component,
//! and a `..` that would climb above the root is refused). Every file
//! operation then resolves that relative path beneath a directory handle on
//! the root (cap-std: `openat2` with `RESOLVE_BENEATH`, or a walk that opens
//! one component at a time), so the kernel refuses any symlink that leads
//! out, absolute symlinks included, at the moment of use: there is no check
//! that a concurrent swap of a directory for a symlink could outrun. Open
//! handles keep their file descriptors, and `fstat`/`fsetstat` act on them,
//! never on the path again.
//!
//! Symlinks that stay inside the root (with relative targets) are followed;
//! lstat, remove, rename and rmdir act on the link itself.

use std::collections::{HashMap, VecDeque};
use std::io::{self, SeekFrom};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{
    Dir, DirBuilder, DirBuilderExt as _, Metadata, MetadataExt as _, OpenOptions, OpenOptionsExt as _,
    PermissionsExt as _,
};
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
    /// The root as a directory handle; every path is resolved beneath it.
    /// Shared with the blocking tasks that run cap-std's synchronous calls.
    root: Arc<Dir>,
    /// Who is logged in, for log lines.
    user: String,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
}

enum OpenHandle {
    /// `path` is the client's name for the file, for log lines only.
    File {
        file: tokio::fs::File,
        path: String,
    },
    Dir {
        entries: VecDeque<File>,
    },
}

impl SftpSession {
    /// A session for `user` rooted at `root` (opened here, following
    /// symlinks in `root` itself).
    pub fn new(root: &Path, user: &str) -> io::Result<Self> {
        let root = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(Self { root: Arc::new(root), user: user.to_owned(), handles: HashMap::new(), next_handle: 0 })
    }

    /// `stat` (following a final symlink) or `lstat` of the client's `path`.
    async fn attributes_of(&self, id: u32, path: &str, follow_last: bool) -> Result<Attrs, StatusReply> {
        let relative = self.beneath(path)?;
        let meta = self
            .blocking(
                path,
                move |root| {
                    if follow_last {
                        root.metadata(&relative)
                    } else {
                        root.symlink_metadata(&relative)
                    }
                },
            )
            .await?;
        Ok(Attrs { id, attrs: attributes(&meta) })
    }

    /// The client's `path` relative to the root; see the module comment.
    fn beneath(&self, path: &str) -> Result<PathBuf, StatusReply> {
        beneath(path).ok_or_else(|| {
            tracing::warn!("sftp: refused {path:?} for {}: outside the sftp root", self.user);
            StatusCode::PermissionDenied.with_message("path is outside the sftp root")
        })
    }

    /// Runs `operation` on the root handle in the blocking pool, since
    /// cap-std's calls are synchronous; `path` names the client's request in
    /// log lines.
    async fn blocking<T: Send + 'static>(
        &self,
        path: &str,
        operation: impl FnOnce(&Dir) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StatusReply> {
        let root = Arc::clone(&self.root);
        let result = tokio::task::spawn_blocking(move || operation(&root))
            .await
            .map_err(|e| StatusCode::Failure.with_message(format!("sftp worker failed: {e}")))?;
        result.map_err(|e| {
            // Escapes cap-std refuses come back as PermissionDenied too.
            if e.kind() == io::ErrorKind::PermissionDenied {
                tracing::warn!("sftp: refused {path:?} for {}: {e}", self.user);
            }
            io_status(e)
        })
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

/// The client's path relative to the root, with no `.` or `..` left, and
/// `.` for the root itself; `None` when `..` climbs above the root. An
/// absolute client path is relative to the root too.
fn beneath(path: &str) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for part in Path::new(path).components() {
        match part {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(name) => parts.push(name),
        }
    }
    if parts.is_empty() {
        return Some(PathBuf::from("."));
    }
    Some(parts.into_iter().collect())
}

/// The client's name for a path relative to the root.
fn virtual_path(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    format!("/{}", parts.join("/"))
}

fn io_status(e: io::Error) -> StatusReply {
    let code = match e.kind() {
        io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    code.with_message(e.to_string())
}

fn ok(id: u32) -> Status {
    Status { id, status_code: StatusCode::Ok, error_message: "Ok".to_owned(), language_tag: "en-US".to_owned() }
}

fn attributes(meta: &Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(meta.size()),
        uid: Some(meta.uid()),
        gid: Some(meta.gid()),
        // The whole mode, file type bits included: that is how a client
        // tells a directory, or a symlink under lstat.
        permissions: Some(meta.mode()),
        atime: Some(protocol_time(meta.atime())),
        mtime: Some(protocol_time(meta.mtime())),
        ..FileAttributes::default()
    }
}

/// SFTP v3 carries times as unsigned 32-bit seconds.
fn protocol_time(seconds: i64) -> u32 {
    u32::try_from(seconds.max(0)).unwrap_or(u32::MAX)
}

/// setstat: mode and size; owner and times are left alone.
fn set_attributes_at(root: &Dir, path: &Path, attrs: &FileAttributes) -> io::Result<()> {
    if let Some(mode) = attrs.permissions {
        root.set_permissions(path, cap_std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if let Some(size) = attrs.size {
        root.open_with(path, OpenOptions::new().write(true))?.set_len(size)?;
    }
    Ok(())
}

/// fsetstat: as [`set_attributes_at`], on the open file itself.
async fn set_attributes(file: &tokio::fs::File, attrs: &FileAttributes) -> io::Result<()> {
    if let Some(mode) = attrs.permissions {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777)).await?;
    }
    if let Some(size) = attrs.size {
        file.set_len(size).await?;
    }
    Ok(())
}

fn open_options(pflags: OpenFlags, attrs: &FileAttributes) -> OpenOptions {
    let mut options = OpenOptions::new();
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
    options
}

fn read_entries(root: &Dir, path: &Path) -> io::Result<VecDeque<File>> {
    let mut entries = VecDeque::new();
    for entry in root.read_dir(path)? {
        let entry = entry?;
        // An entry removed since the listing is skipped, not an error.
        let Ok(meta) = entry.metadata() else { continue };
        entries.push_back(File::new(entry.file_name().to_string_lossy(), attributes(&meta)));
    }
    Ok(entries)
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
        let relative = self.beneath(&filename)?;
        let options = open_options(pflags, &attrs);
        let file = self
            .blocking(&filename, move |root| {
                let file = root.open_with(&relative, &options)?;
                // A directory opens read-only like a file; SFTP lists it
                // through opendir instead.
                if file.metadata()?.is_dir() {
                    return Err(io::Error::other("is a directory"));
                }
                Ok(file.into_std())
            })
            .await?;
        tracing::debug!("sftp: {} opened {filename}", self.user);
        let file = tokio::fs::File::from_std(file);
        let handle = self.add_handle(OpenHandle::File { file, path: filename })?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(OpenHandle::File { mut file, path }) => {
                file.flush().await.map_err(io_status)?;
                tracing::debug!("sftp: {} closed {path}", self.user);
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
        Ok(Attrs { id, attrs: attributes(&Metadata::from_just_metadata(meta)) })
    }

    async fn setstat(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let relative = self.beneath(&path)?;
        self.blocking(&path, move |root| set_attributes_at(root, &relative, &attrs)).await?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        set_attributes(file, &attrs).await.map_err(io_status)?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let relative = self.beneath(&path)?;
        let entries = self.blocking(&path, move |root| read_entries(root, &relative)).await?;
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
        let relative = self.beneath(&filename)?;
        self.blocking(&filename, move |root| root.remove_file(&relative)).await?;
        tracing::debug!("sftp: {} removed {filename}", self.user);
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, attrs: FileAttributes) -> Result<Status, Self::Error> {
        let relative = self.beneath(&path)?;
        let mut builder = DirBuilder::new();
        builder.mode(attrs.permissions.map_or(0o755, |m| m & 0o777));
        self.blocking(&path, move |root| root.create_dir_with(&relative, &builder)).await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let relative = self.beneath(&path)?;
        if relative == Path::new(".") {
            return Err(StatusCode::PermissionDenied.with_message("cannot remove the sftp root"));
        }
        self.blocking(&path, move |root| root.remove_dir(&relative)).await?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let relative = self.beneath(&path)?;
        let lexical = virtual_path(&relative);
        let canonical = self
            .blocking(&path, move |root| match root.canonicalize(&relative) {
                Ok(canonical) => Ok(Some(canonical)),
                // Clients ask for names they are about to create.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
        let shown = canonical.map_or(lexical, |canonical| virtual_path(&canonical));
        Ok(Name { id, files: vec![File::dummy(shown)] })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.attributes_of(id, &path, true).await
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, Self::Error> {
        let from = self.beneath(&oldpath)?;
        let to = self.beneath(&newpath)?;
        if from == Path::new(".") {
            return Err(StatusCode::PermissionDenied.with_message("cannot rename the sftp root"));
        }
        self.blocking(&oldpath, move |root| {
            // SFTP v3: renaming onto an existing name is an error.
            if root.symlink_metadata(&to).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "target exists"));
            }
            root.rename(&from, root, &to)
        })
        .await?;
        tracing::debug!("sftp: {} renamed {oldpath} to {newpath}", self.user);
        Ok(ok(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::server::Handler as _;

    #[test]
    fn client_paths_beneath_the_root() {
        let cases = [
            ("/a/./b/../c", Some("a/c")),
            ("a/b/..", Some("a")),
            ("", Some(".")),
            ("/", Some(".")),
            ("/..x/y", Some("..x/y")),
            ("/../etc/passwd", None),
            ("a/../../x", None),
        ];
        for (path, want) in cases {
            assert_eq!(beneath(path), want.map(PathBuf::from), "{path:?}");
        }
        assert_eq!(virtual_path(Path::new(".")), "/");
        assert_eq!(virtual_path(Path::new("a/c")), "/a/c");
    }

    fn denied<T>(result: Result<T, StatusReply>) -> bool {
        matches!(result, Err(e) if e.status_code == StatusCode::PermissionDenied)
    }

    fn no_such_file<T>(result: Result<T, StatusReply>) -> bool {
        matches!(result, Err(e) if e.status_code == StatusCode::NoSuchFile)
    }

    async fn open(sftp: &mut SftpSession, path: &str, flags: OpenFlags) -> Result<String, StatusReply> {
        Ok(sftp.open(1, path.into(), flags, FileAttributes::default()).await?.handle)
    }

    /// The first KiB of `path`, through the session.
    async fn read_start(sftp: &mut SftpSession, path: &str) -> Result<Vec<u8>, StatusReply> {
        let handle = open(sftp, path, OpenFlags::READ).await?;
        let data = sftp.read(1, handle.clone(), 0, 1024).await.map(|d| d.data);
        sftp.close(1, handle).await?;
        data
    }

    fn size(size: u64) -> FileAttributes {
        FileAttributes { size: Some(size), ..FileAttributes::default() }
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
        // Nothing is written through a link out of the root.
        assert!(denied(sftp.mkdir(1, "/to-outside/made".into(), FileAttributes::default()).await));
        assert!(!outside.path().join("made").exists());
        assert!(denied(sftp.setstat(1, "/to-outside/secret".into(), size(0)).await));
        assert!(denied(sftp.setstat(1, "/to-secret".into(), size(0)).await));
        assert!(denied(sftp.rename(1, "/inside".into(), "/to-outside/moved".into()).await));
        assert!(denied(sftp.remove(1, "/to-outside/secret".into()).await));
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"secret");
        // Removing the link removes the link, not its target.
        sftp.remove(1, "/to-secret".into()).await.unwrap();
        assert!(outside.path().join("secret").exists());
        let real = sftp.realpath(1, "/a/../.".into()).await.unwrap();
        assert_eq!(real.files[0].filename, "/");
        let real = sftp.realpath(1, "/to-inside".into()).await.unwrap();
        assert_eq!(real.files[0].filename, "/inside");
    }

    #[tokio::test]
    async fn a_symlink_to_etc_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("etc")).unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        assert!(denied(read_start(&mut sftp, "/etc/passwd").await));
        assert!(denied(read_start(&mut sftp, "etc/hostname").await));
        assert!(denied(sftp.stat(1, "/etc/passwd".into()).await));
        assert!(denied(sftp.stat(1, "/etc".into()).await));
        assert!(denied(sftp.opendir(1, "/etc".into()).await));
        assert!(denied(sftp.opendir(1, "/etc/".into()).await));
        assert!(denied(sftp.realpath(1, "/etc/passwd".into()).await));
        // The link itself is visible, as a link.
        let link = sftp.lstat(1, "/etc".into()).await.unwrap();
        assert_eq!(link.attrs.permissions.unwrap() & 0o170000, 0o120000);
    }

    #[tokio::test]
    async fn dot_dot_paths_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/inside"), b"inside").unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        for path in ["..", "../etc/passwd", "/../../etc/passwd", "sub/../../etc", "/sub/../..", "./../x"] {
            assert!(denied(sftp.stat(1, path.into()).await), "stat {path}");
            assert!(denied(sftp.lstat(1, path.into()).await), "lstat {path}");
            assert!(denied(read_start(&mut sftp, path).await), "open {path}");
            assert!(denied(sftp.opendir(1, path.into()).await), "opendir {path}");
            assert!(denied(sftp.realpath(1, path.into()).await), "realpath {path}");
            assert!(denied(sftp.setstat(1, path.into(), size(0)).await), "setstat {path}");
            assert!(denied(sftp.mkdir(1, path.into(), FileAttributes::default()).await), "mkdir {path}");
            assert!(denied(sftp.rmdir(1, path.into()).await), "rmdir {path}");
            assert!(denied(sftp.remove(1, path.into()).await), "remove {path}");
            assert!(denied(sftp.rename(1, "/sub/inside".into(), path.into()).await), "rename to {path}");
            assert!(denied(sftp.rename(1, path.into(), "/sub/x".into()).await), "rename from {path}");
        }
        // A `..` that stays inside the root is fine.
        assert_eq!(read_start(&mut sftp, "/sub/../sub/./inside").await.unwrap(), b"inside");
        assert_eq!(std::fs::read(root.path().join("sub/inside")).unwrap(), b"inside");
    }

    #[tokio::test]
    async fn absolute_paths_name_files_beneath_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        let real_outside = outside.path().join("secret");
        assert!(no_such_file(read_start(&mut sftp, real_outside.to_str().unwrap()).await));
        assert!(no_such_file(sftp.stat(1, "/etc/passwd".into()).await));
        let handle = open(&mut sftp, "/made", OpenFlags::WRITE | OpenFlags::CREATE).await.unwrap();
        sftp.close(1, handle).await.unwrap();
        assert!(root.path().join("made").is_file());
        assert!(sftp.mkdir(1, "/tmp".into(), FileAttributes::default()).await.is_ok());
        assert!(root.path().join("tmp").is_dir());
        // A symlink with an absolute target is refused even when the target
        // lies inside the root: the kernel resolves beneath the root handle,
        // where an absolute path has no meaning.
        std::os::unix::fs::symlink(root.path().join("made"), root.path().join("absolute")).unwrap();
        assert!(denied(sftp.stat(1, "/absolute".into()).await));
    }

    /// A directory on the path of an open file is replaced by a symlink to
    /// the outside: the open handle still means the file it opened, and the
    /// path now leads nowhere.
    #[tokio::test]
    async fn a_symlink_swapped_in_after_open_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/f"), b"inside").unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        let handle = open(&mut sftp, "/d/f", OpenFlags::READ | OpenFlags::WRITE).await.unwrap();
        std::fs::rename(root.path().join("d"), root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("d")).unwrap();

        sftp.fsetstat(1, handle.clone(), size(2)).await.unwrap();
        sftp.write(1, handle.clone(), 2, b"!".to_vec()).await.unwrap();
        assert_eq!(sftp.fstat(1, handle.clone()).await.unwrap().attrs.size, Some(3));
        sftp.close(1, handle).await.unwrap();
        assert_eq!(std::fs::read(root.path().join("moved/f")).unwrap(), b"in!");

        assert!(denied(read_start(&mut sftp, "/d/f").await));
        assert!(denied(sftp.stat(1, "/d/f".into()).await));
        assert!(denied(sftp.setstat(1, "/d/f".into(), size(0)).await));
        assert_eq!(std::fs::read(outside.path().join("f")).unwrap(), b"outside");
    }

    /// A local process swaps a directory on the path with a symlink to the
    /// outside and back (atomically, so the path always exists), as fast as
    /// it can, while the client opens a file under it: no open may ever read
    /// the outside file. A check of the path followed by a separate open
    /// loses this race within a few thousand tries.
    #[tokio::test]
    async fn a_symlink_swapped_in_during_opens_is_never_followed() {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        use std::sync::atomic::{AtomicBool, Ordering};

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/f"), b"inside").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let mut sftp = SftpSession::new(root.path(), "test").unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, root) = (Arc::clone(&stop), root.path().to_owned());
            std::thread::spawn(move || -> nix::Result<()> {
                let (d, link) = (root.join("d"), root.join("link"));
                while !stop.load(Ordering::Relaxed) {
                    renameat2(AT_FDCWD, &d, AT_FDCWD, &link, RenameFlags::RENAME_EXCHANGE)?;
                }
                Ok(())
            })
        };
        let (mut inside, mut refused) = (0, 0);
        for _ in 0..20_000 {
            match read_start(&mut sftp, "/d/f").await {
                Ok(data) => {
                    assert_eq!(data, b"inside", "read through the swapped-in symlink");
                    inside += 1;
                }
                Err(_) => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap().unwrap();
        assert!(inside > 0 && refused > 0, "no race happened: {inside} reads, {refused} refusals");
    }
}
