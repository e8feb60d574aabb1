//! sshfwd's man page and shell completions, generated from the clap
//! definitions of `sshfwd::cli`, so that they never drift from the flags:
//!
//! ```sh
//! cargo run -p sshfwd --example gen-docs -- out/
//! ```
//!
//! writes `out/man1/sshfwd.1` and `out/completions/{sshfwd.bash,_sshfwd,
//! sshfwd.fish}`. An example rather than a flag of the binary or a crate of
//! its own: the generators stay dev-dependencies (not linked into sshfwd),
//! and no workspace member is added for two functions.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Sections clap does not know about, in roff.
const EXTRA_SECTIONS: &str = r#".SH "RUNNING AS A SERVICE"
Under systemd with \fBType=notify\fR, sshfwd sends \fBREADY=1\fR to
\fB$NOTIFY_SOCKET\fR once every forwarding listens, \fBSTOPPING=1\fR when it
shuts down, and \fBWATCHDOG=1\fR every half of \fB$WATCHDOG_USEC\fR when
\fBWatchdogSec=\fR is set. Example units are in \fIcontrib/systemd\fR:
\fBsshfwd@HOST.service\fR runs \fBsshfwd \-N \-F /etc/sshfwd/config HOST\fR.
Diagnostics go to standard error (the journal), to a file with \fB\-E\fR, or
to syslog with \fB\-y\fR (facility \fBSyslogFacility\fR, default USER; tag
\fBsshfwd\fR).
.SH ENVIRONMENT
.TP
.B NOTIFY_SOCKET
systemd's notification socket (a path, or \fB@\fIname\fR in the abstract
namespace); unset outside systemd.
.TP
.B SSH_AUTH_SOCK
The ssh\-agent socket (see \fBIdentityAgent\fR).
.TP
.B SSHFWD_LOG
A tracing filter that overrides \fBLogLevel\fR, \fB\-v\fR and \fB\-q\fR.
.SH FILES
.TP
.I ~/.ssh/config
The per\-user configuration file (\fB\-F\fR names another).
.TP
.I /etc/ssh/ssh_config
The system\-wide configuration file.
.TP
.I ~/.ssh/known_hosts
Host keys of known servers.
.SH "EXIT STATUS"
The remote command's exit status, or 255 when sshfwd fails or is stopped by a
signal, as ssh.
.SH "SEE ALSO"
.BR ssh (1),
.BR ssh_config (5),
.BR systemd.service (5)
"#;

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: cargo run -p sshfwd --example gen-docs -- DIR");
        std::process::exit(2);
    };
    match generate(Path::new(&dir)) {
        Ok(files) => files.iter().for_each(|file| println!("{}", file.display())),
        Err(e) => {
            eprintln!("gen-docs: {e}");
            std::process::exit(1);
        }
    }
}

/// Writes the man page and the completions under `dir`; the files written.
fn generate(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let command = sshfwd::cli::Args::command().about("SSH port forwarding that understands FTP").long_about(
        "sshfwd is an OpenSSH-compatible SSH client whose port forwardings understand FTP: \
             with -L ftp/... and -R ftp/... it rewrites PASV, EPSV, PORT and EPRT and forwards each \
             data connection over the same SSH connection, and --ftp-to-sftp serves the SSH \
             server's files to FTP clients over SFTP. Options not listed here are ssh_config(5) \
             keywords given with -o, read from the configuration files as ssh does.",
    );
    let man_dir = dir.join("man1");
    std::fs::create_dir_all(&man_dir)?;
    let page = man_dir.join("sshfwd.1");
    let mut roff = Vec::new();
    let man = clap_mangen::Man::new(command.clone()).section("1").manual("User Commands");
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    // clap_mangen's synopsis lists every flag bare ("[-p ]"): show ssh's
    // usage lines instead, which `cli` keeps.
    roff.write_all(synopsis(&sshfwd::cli::usage()).as_bytes())?;
    man.render_description_section(&mut roff)?;
    man.render_options_section(&mut roff)?;
    roff.write_all(EXTRA_SECTIONS.as_bytes())?;
    man.render_version_section(&mut roff)?;
    std::fs::write(&page, roff)?;

    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    let mut files = vec![page];
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        files.push(clap_complete::generate_to(shell, &mut command.clone(), "sshfwd", &completions)?);
    }
    Ok(files)
}

/// The SYNOPSIS section: the usage text, unfilled, in roff.
fn synopsis(usage: &str) -> String {
    let text = usage.trim_start_matches("usage: ").trim_end();
    let lines: Vec<String> = text.lines().map(|line| roff_text(line.trim_start())).collect();
    format!(".SH SYNOPSIS\n.nf\n{}\n.fi\n", lines.join("\n       "))
}

/// Text that roff prints as is: backslashes and minus signs escaped, and
/// no line starting with a control character.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.starts_with(['.', '\'']) {
        true => format!("\\&{escaped}"),
        false => escaped,
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn writes_a_page_that_renders_and_completions_that_parse() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path()).unwrap();
        let names: Vec<String> =
            files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(
            names,
            ["man1/sshfwd.1", "completions/sshfwd.bash", "completions/_sshfwd", "completions/sshfwd.fish"]
        );

        // man-db's `man -l` formats the page as an installed one would be;
        // groff's warnings (-ww) would show a broken page.
        let out = Command::new("man")
            .args(["-l", "--warnings=w"])
            .arg(&files[0])
            .env("MANWIDTH", "80")
            .output()
            .expect("man (Debian package man-db) is needed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "man -l failed:\n{stderr}");
        let page = String::from_utf8_lossy(&out.stdout);
        for want in ["SYNOPSIS", "-E log_file", "-y", "--ftp-to-sftp", "NOTIFY_SOCKET", "EXIT STATUS", "ssh_config(5)"]
        {
            assert!(page.contains(want), "the page lacks {want:?}:\n{page}");
        }

        let bash = Command::new("bash").arg("-n").arg(&files[1]).output().expect("bash");
        assert!(bash.status.success(), "{}", String::from_utf8_lossy(&bash.stderr));
        // Each shell's way of offering -E and --ftp-check.
        let offers = [
            (&files[1], "-E", "--ftp-check"),
            (&files[2], "'-E+", "'--ftp-check="),
            (&files[3], "-s E", "-l ftp-check"),
        ];
        for (file, short, long) in offers {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains(short) && text.contains(long), "{}:\n{text}", file.display());
        }
    }
}
