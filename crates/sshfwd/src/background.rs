//! `-f` (ForkAfterAuthentication): going to the background once the
//! forwardings are up. A running tokio runtime cannot be forked, so the
//! foreground process starts this program again (`/proc/self/exe`, the same
//! arguments) with the write end of a pipe named in [`FD_VARIABLE`], and
//! waits. The child runs as any sshfwd would (it keeps the terminal, so
//! password and passphrase prompts work) and, once ready, [`detach`]es:
//! a new session, /dev/null for the streams it no longer needs, and a byte
//! on the pipe. A byte tells the foreground to exit 0; end of file means the
//! child stopped before it was ready, and its exit status is the
//! foreground's (the child has already said why).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;

/// Names the descriptor of the pipe to the waiting foreground process.
pub const FD_VARIABLE: &str = "SSHFWD_BACKGROUND_FD";

/// The pipe to the waiting foreground process, in the background child
/// until it is ready. Process-wide by nature: it is the process that goes
/// to the background, whichever task finds it ready.
static WAITING_PARENT: Mutex<Option<File>> = Mutex::new(None);

/// Why the foreground could not start the background process.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    /// The pipe, the new process or the wait for it failed.
    #[error("fork: {0}")]
    Start(#[from] std::io::Error),
}

/// Which streams the background process keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// A remote command's output still comes out on stdout and stderr.
    Session,
    /// Only stderr, where `-v` diagnostics go.
    Stderr,
    /// Neither (ssh's `-f -N`): the caller's pipes are not held open.
    Nothing,
}

/// In the background child, takes the pipe named by [`FD_VARIABLE`] and
/// removes the variable, so that neither LocalCommand nor SendEnv passes it
/// on. Call first thing in `main`, before any thread starts.
pub fn adopt() {
    let Some(value) = std::env::var_os(FD_VARIABLE) else { return };
    std::env::remove_var(FD_VARIABLE);
    let Some(fd) = value.to_str().and_then(|v| v.parse::<RawFd>().ok()).filter(|fd| *fd > 2) else { return };
    // SAFETY: F_GETFD only reads the descriptor's flags; a stale variable
    // naming a closed descriptor is ignored. An open one was made for this
    // process by the foreground one, and nothing else here owns it.
    let pipe = unsafe {
        if libc::fcntl(fd, libc::F_GETFD) == -1 {
            return;
        }
        OwnedFd::from_raw_fd(fd)
    };
    // No command this process starts must hold the foreground waiting.
    let _ = nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    // Until it is ready, the child is part of the foreground's run: killing
    // the foreground (a timeout, Ctrl-C in another group) stops it too, as it
    // would stop ssh, which is one process until it forks.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
        tracing::debug!("prctl(PR_SET_PDEATHSIG): {e}");
    }
    if let Ok(mut waiting) = WAITING_PARENT.lock() {
        *waiting = Some(File::from(pipe));
    }
}

/// Whether this process is the background child of a `-f` run that has
/// not detached yet.
pub fn is_child() -> bool {
    WAITING_PARENT.lock().map(|waiting| waiting.is_some()).unwrap_or(false)
}

/// The foreground side of `-f`: starts this program again in the
/// background and waits until it is ready (0) or has stopped (its status;
/// 255 when a signal killed it).
pub fn run_in_background() -> Result<i32, BackgroundError> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    // A duplicate has no close-on-exec flag: the one end the child inherits.
    let inherited = nix::unistd::dup(&write).map_err(std::io::Error::from)?;
    drop(write);
    let mut args = std::env::args_os();
    let mut command = Command::new("/proc/self/exe");
    if let Some(argv0) = args.next() {
        command.arg0(argv0);
    }
    command.args(args).env(FD_VARIABLE, inherited.as_raw_fd().to_string());
    let mut child = command.spawn()?;
    drop(inherited);
    let mut pipe = File::from(read);
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(1) => return Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => break,
        }
    }
    let status = child.wait()?;
    Ok(status.code().unwrap_or(crate::app::EXIT_FAILURE))
}

/// Marks the run ready: in the background child of `-f`, leaves the
/// terminal's session, points stdin (and the streams not kept) at
/// /dev/null, and releases the waiting foreground process. Elsewhere, does
/// nothing. Called once every forwarding is set up (`app::run`).
pub fn detach(keep: Keep) {
    let Some(mut pipe) = WAITING_PARENT.lock().ok().and_then(|mut waiting| waiting.take()) else { return };
    tracing::debug!("forking to background");
    // The foreground exits as soon as it reads the byte: from here on the
    // child lives on its own.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(None) {
        tracing::debug!("prctl(PR_SET_PDEATHSIG): {e}");
    }
    if let Err(e) = nix::unistd::setsid() {
        tracing::debug!("setsid: {e}");
    }
    if let Err(e) = to_dev_null(keep) {
        tracing::error!("stdfd_devnull failed: {e}");
    }
    let _ = pipe.write_all(&[1]);
}

/// ssh's `stdfd_devnull`: stdin always, stdout and stderr unless kept.
fn to_dev_null(keep: Keep) -> std::io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    if keep == Keep::Nothing || keep == Keep::Stderr {
        nix::unistd::dup2_stdout(&null)?;
    }
    if keep == Keep::Nothing {
        nix::unistd::dup2_stderr(&null)?;
    }
    Ok(())
}
