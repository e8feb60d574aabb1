//! What OpenSSH asks the operating system about the local side: the
//! password database entry of a user, through the C library, so users from
//! NSS sources (LDAP, SSSD, systemd-homed) count as well as /etc/passwd,
//! and the host name. These calls may block on a network directory: call
//! them before an async runtime starts, or off its threads.

use std::path::PathBuf;

use nix::unistd::{Uid, User};

/// The uid of this process (`%i`).
pub fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The name of this process's user (`%u`), as OpenSSH takes it from
/// `getpwuid(getuid())`; `None` when the uid has no entry.
pub fn user_name() -> Option<String> {
    User::from_uid(Uid::current()).ok().flatten().map(|user| user.name)
}

/// This process's user's home directory from the password database.
pub fn home() -> Option<PathBuf> {
    User::from_uid(Uid::current()).ok().flatten().map(|user| user.dir)
}

/// `name`'s home directory (for `~name`); `None` for no such user.
pub fn user_home(name: &str) -> Option<PathBuf> {
    User::from_name(name).ok().flatten().map(|user| user.dir)
}

/// The shell that runs the commands of ssh_config (ProxyCommand,
/// LocalCommand, `Match exec`): `$SHELL`, or `/bin/sh` when it is unset or
/// empty (OpenSSH's `_PATH_BSHELL`).
pub fn shell() -> std::ffi::OsString {
    std::env::var_os("SHELL").filter(|shell| !shell.is_empty()).unwrap_or_else(|| "/bin/sh".into())
}

/// This machine's host name (`%l`).
pub fn host_name() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_is_found_by_uid_and_by_name() {
        let name = user_name().expect("this process's uid has a password entry");
        assert_eq!(user_home(&name), home());
        let file = tempfile::NamedTempFile::new().unwrap();
        let owner = std::os::unix::fs::MetadataExt::uid(&file.as_file().metadata().unwrap());
        assert_eq!(uid(), owner);
    }

    #[test]
    fn an_unknown_user_has_no_home() {
        assert_eq!(user_home("no-such-user-for-ssh-files-tests"), None);
    }

    #[test]
    fn host_name_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(host_name().as_deref(), Some(kernel.trim()));
    }
}
