//! Directory listings as FTP clients read them: `LIST` in the `ls -l`
//! format that curl, lftp, FileZilla and Windows Explorer parse, `NLST`
//! names, and RFC 3659 `MLSD`/`MLST` facts. Time is an argument: the
//! caller passes the clock.

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    File,
    Directory,
    Symlink,
    /// A device, socket or pipe.
    Other,
}

/// One file's facts, as SFTP's attributes give them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The name within its directory (no `/`).
    pub name: String,
    pub kind: Kind,
    pub size: u64,
    /// Seconds since the Unix epoch (UTC); `None` when the server did not say.
    pub modified: Option<i64>,
    /// The permission bits (`0o7777`); `None` when the server did not say.
    pub mode: Option<u32>,
    /// The owner's name, or the uid as text.
    pub owner: Option<String>,
    /// The group's name, or the gid as text.
    pub group: Option<String>,
    /// Where a symbolic link points, when known: LIST shows `name -> target`,
    /// which lftp's mirror and FileZilla read.
    pub link_target: Option<String>,
}

/// A listing line longer than this is not a name a client could use; it
/// also bounds what one entry can make the bridge buffer.
const MAX_NAME: usize = 4096;

/// Six months, the age past which `ls -l` shows the year instead of the
/// time (half of 365.2425 days).
const SIX_MONTHS: i64 = 15_778_476;

impl Entry {
    /// Names that would break a line-based listing (CR, LF) or are not a
    /// name at all are left out of listings, and so are `.` and `..`: a
    /// client that took them for subdirectories would recurse forever or
    /// fetch a directory as a file.
    pub fn listable(&self) -> bool {
        !self.name.is_empty()
            && self.name != "."
            && self.name != ".."
            && self.name.len() <= MAX_NAME
            && !self.name.contains(['\r', '\n', '/'])
    }

    /// `drwxr-xr-x 1 owner group 4096 Nov 26 01:23 name`, without CRLF.
    pub fn list_line(&self, now: i64) -> String {
        let owner = self.owner.as_deref().filter(|o| is_field(o)).unwrap_or("ftp");
        let group = self.group.as_deref().filter(|g| is_field(g)).unwrap_or("ftp");
        let links = if self.kind == Kind::Directory { 2 } else { 1 };
        let target = match (&self.kind, &self.link_target) {
            (Kind::Symlink, Some(target)) if !target.contains(['\r', '\n']) => format!(" -> {target}"),
            _ => String::new(),
        };
        format!(
            "{}{} {links} {owner} {group} {} {} {}{target}",
            self.type_letter(),
            permission_string(self.effective_mode()),
            self.size,
            ls_time(self.modified.unwrap_or(0), now),
            self.name
        )
    }

    /// `type=file;size=12;modify=20261126012345;perm=adfrw;UNIX.mode=0644; name`
    /// (RFC 3659 §7), without CRLF; `name` is what follows the space.
    pub fn facts(&self, name: &str) -> String {
        let kind = match (self.kind, &self.link_target) {
            (Kind::File, _) => "file".to_owned(),
            (Kind::Directory, _) => "dir".to_owned(),
            // proftpd's form, from which lftp's mirror makes the link (it
            // skips a bare `OS.unix=symlink`); a target outside RFC 3659's
            // value characters (a space, `;`, UTF-8) is left out.
            (Kind::Symlink, Some(target)) if !target.is_empty() && target.chars().all(is_fact_char) => {
                format!("OS.unix=slink:{target}")
            }
            (Kind::Symlink, _) => "OS.unix=symlink".to_owned(),
            (Kind::Other, _) => "OS.unix=special".to_owned(),
        };
        let mut facts = format!("type={kind};size={};", self.size);
        if let Some(modified) = self.modified {
            facts.push_str(&format!("modify={};", timestamp(modified)));
        }
        facts.push_str(&format!("perm={};UNIX.mode={:04o}; {name}", self.perm(), self.effective_mode()));
        facts
    }

    fn type_letter(&self) -> char {
        match self.kind {
            Kind::File => '-',
            Kind::Directory => 'd',
            Kind::Symlink => 'l',
            Kind::Other => 's',
        }
    }

    fn effective_mode(&self) -> u32 {
        self.mode.map_or(if self.kind == Kind::Directory { 0o755 } else { 0o644 }, |m| m & 0o7777)
    }

    /// RFC 3659 §7.5.5 from the owner's permission bits: the bridge cannot
    /// know the SSH user's groups, and the files a user reaches are
    /// mostly their own.
    fn perm(&self) -> String {
        let mode = self.effective_mode();
        let (read, write, execute) = (mode & 0o400 != 0, mode & 0o200 != 0, mode & 0o100 != 0);
        let mut perm = String::new();
        match self.kind {
            Kind::Directory => {
                if execute {
                    perm.push('e');
                }
                if read {
                    perm.push('l');
                }
                if write {
                    perm.push_str("cmpdf");
                }
            }
            _ => {
                if write {
                    perm.push_str("adfw");
                }
                if read {
                    perm.push('r');
                }
            }
        }
        perm
    }
}

/// The body of a `LIST` reply: one CRLF-terminated line per entry.
pub fn list(entries: &[Entry], now: i64) -> Vec<u8> {
    lines(entries, |e| e.list_line(now))
}

/// The body of an `NLST` reply: names only, each after `prefix` (the
/// directory part of a pattern argument, or nothing).
pub fn name_list(entries: &[Entry], prefix: &str) -> Vec<u8> {
    lines(entries, |e| format!("{prefix}{}", e.name))
}

/// The body of an `MLSD` reply.
pub fn machine_list(entries: &[Entry]) -> Vec<u8> {
    lines(entries, |e| e.facts(&e.name))
}

fn lines(entries: &[Entry], line: impl Fn(&Entry) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| e.listable()) {
        out.extend_from_slice(line(entry).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 3659 §7.2's characters of a fact's value: printable ASCII but
/// space and `;`.
fn is_fact_char(c: char) -> bool {
    c.is_ascii_graphic() && c != ';'
}

/// An owner or group that keeps the line's columns: one word, printable.
fn is_field(text: &str) -> bool {
    !text.is_empty() && text.len() <= 32 && text.chars().all(|c| c.is_ascii_graphic())
}

/// `rwxr-xr-x` with setuid, setgid and sticky bits as `ls` shows them.
fn permission_string(mode: u32) -> String {
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    let special = |exec: bool, set: bool, lower: char, upper: char| match (exec, set) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(mode & 0o100 != 0, mode & 0o4000 != 0, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(mode & 0o010 != 0, mode & 0o2000 != 0, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(mode & 0o001 != 0, mode & 0o1000 != 0, 't', 'T'),
    ]
    .iter()
    .collect()
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `Nov 26 01:23` for recent times, `Nov 26  2019` for times more than six
/// months ago or in the future (as GNU `ls` does, with an hour's grace for
/// clock skew).
fn ls_time(time: i64, now: i64) -> String {
    let t = CivilTime::from_unix(time);
    let month = MONTHS.get(usize::from(t.month).saturating_sub(1)).copied().unwrap_or("Jan");
    if time <= now.saturating_sub(SIX_MONTHS) || time > now.saturating_add(3600) {
        format!("{month} {:>2} {:>5}", t.day, t.year)
    } else {
        format!("{month} {:>2} {:02}:{:02}", t.day, t.hour, t.minute)
    }
}

/// `YYYYMMDDHHMMSS` in UTC (RFC 3659 §2.3), for MDTM and `modify=`.
pub fn timestamp(time: i64) -> String {
    let t = CivilTime::from_unix(time);
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// A UTC calendar time (also the audit log's timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl CivilTime {
    /// Howard Hinnant's `civil_from_days`, exact for the proleptic
    /// Gregorian calendar; years are clamped to 0–9999 so that the
    /// four-digit formats hold.
    pub fn from_unix(time: i64) -> Self {
        const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let time = time.clamp(MIN, MAX);
        let days = time.div_euclid(86_400);
        let seconds = time.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        // Each value is within its calendar range by construction.
        let narrow = |n: i64| u8::try_from(n).unwrap_or(0);
        Self {
            year,
            month: narrow(month),
            day: narrow(day),
            hour: narrow(seconds / 3600),
            minute: narrow(seconds % 3600 / 60),
            second: narrow(seconds % 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-26T01:23:45Z.
    const NOW: i64 = 1_795_656_225;

    fn entry(name: &str, kind: Kind, mode: u32, size: u64, modified: i64) -> Entry {
        Entry {
            name: name.into(),
            kind,
            size,
            modified: Some(modified),
            mode: Some(mode),
            owner: Some("ann".into()),
            group: Some("staff".into()),
            link_target: None,
        }
    }

    #[test]
    fn civil_times() {
        for (time, expected) in [
            (0, "19700101000000"),
            (NOW, "20261126012345"),
            (951_782_400, "20000229000000"),
            (-1, "19691231235959"),
            (253_402_300_799, "99991231235959"),
            (i64::MAX, "99991231235959"),
            (i64::MIN, "00000101000000"),
        ] {
            assert_eq!(timestamp(time), expected, "{time}");
        }
    }

    #[test]
    fn list_lines() {
        let recent = NOW - 60;
        let old = NOW - 200 * 86_400;
        for (e, expected) in [
            (entry("docs", Kind::Directory, 0o755, 4096, recent), "drwxr-xr-x 2 ann staff 4096 Nov 26 01:22 docs"),
            (entry("a b.txt", Kind::File, 0o644, 12, old), "-rw-r--r-- 1 ann staff 12 May 10  2026 a b.txt"),
            (entry("future", Kind::File, 0o600, 0, NOW + 7200), "-rw------- 1 ann staff 0 Nov 26  2026 future"),
            (entry("tmp", Kind::Directory, 0o1777, 0, recent), "drwxrwxrwt 2 ann staff 0 Nov 26 01:22 tmp"),
            (entry("suid", Kind::File, 0o4754, 1, recent), "-rwsr-xr-- 1 ann staff 1 Nov 26 01:22 suid"),
            (entry("sgid", Kind::File, 0o2644, 1, recent), "-rw-r-Sr-- 1 ann staff 1 Nov 26 01:22 sgid"),
            (entry("link", Kind::Symlink, 0o777, 4, recent), "lrwxrwxrwx 1 ann staff 4 Nov 26 01:22 link"),
            (entry("日本", Kind::File, 0o644, 3, NOW - 5 * 86_400), "-rw-r--r-- 1 ann staff 3 Nov 21 01:23 日本"),
        ] {
            assert_eq!(e.list_line(NOW), expected);
        }
        let link = Entry { link_target: Some("../a b".into()), ..entry("ln", Kind::Symlink, 0o777, 4, NOW) };
        assert_eq!(link.list_line(NOW), "lrwxrwxrwx 1 ann staff 4 Nov 26 01:23 ln -> ../a b");
        let bare = Entry {
            mode: None,
            owner: None,
            group: Some("two words".into()),
            modified: None,
            ..entry("x", Kind::File, 0, 5, 0)
        };
        assert_eq!(bare.list_line(NOW), "-rw-r--r-- 1 ftp ftp 5 Jan  1  1970 x");
    }

    #[test]
    fn facts_follow_rfc_3659() {
        let file = entry("a b", Kind::File, 0o644, 12, NOW);
        assert_eq!(file.facts("a b"), "type=file;size=12;modify=20261126012345;perm=adfwr;UNIX.mode=0644; a b");
        let dir = entry("d", Kind::Directory, 0o755, 4096, NOW);
        assert_eq!(dir.facts("/x/d"), "type=dir;size=4096;modify=20261126012345;perm=elcmpdf;UNIX.mode=0755; /x/d");
        let link = |target: &str| Entry { link_target: Some(target.into()), ..entry("l", Kind::Symlink, 0o777, 3, 0) };
        assert!(link("../a/b").facts("l").starts_with("type=OS.unix=slink:../a/b;size=3;"));
        for awkward in ["a b", "a;b", "ü", ""] {
            assert!(link(awkward).facts("l").starts_with("type=OS.unix=symlink;"), "{awkward:?}");
        }
        let read_only = Entry { modified: None, ..entry("r", Kind::File, 0o444, 1, 0) };
        assert_eq!(read_only.facts("r"), "type=file;size=1;perm=r;UNIX.mode=0444; r");
    }

    #[test]
    fn bodies_skip_names_that_would_break_lines() {
        let entries = [
            entry("ok", Kind::File, 0o644, 1, NOW),
            entry("bad\r\nname", Kind::File, 0o644, 1, NOW),
            entry("", Kind::File, 0o644, 1, NOW),
            entry(".", Kind::Directory, 0o755, 1, NOW),
            entry("..", Kind::Directory, 0o755, 1, NOW),
            entry("d", Kind::Directory, 0o755, 1, NOW),
        ];
        assert_eq!(name_list(&entries, ""), b"ok\r\nd\r\n");
        assert_eq!(name_list(&entries, "sub dir/"), b"sub dir/ok\r\nsub dir/d\r\n");
        assert_eq!(list(&entries, NOW).split(|&b| b == b'\n').count(), 3);
        assert_eq!(machine_list(&entries).split(|&b| b == b'\n').count(), 3);
        assert!(list(&[], NOW).is_empty());
    }

    proptest! {
        #[test]
        fn listing_never_panics_and_keeps_one_line_per_entry(
            name in ".{0,40}", size in any::<u64>(), modified in any::<i64>(), mode in any::<u32>(), now in any::<i64>(),
            owner in proptest::option::of(".{0,40}"),
        ) {
            let e = Entry { name, size, modified: Some(modified), mode: Some(mode), owner, ..Entry::default() };
            let line = e.list_line(now);
            let facts = e.facts(&e.name);
            if e.listable() {
                prop_assert!(!line.contains('\n') && !facts.contains('\n'));
                prop_assert!(line.ends_with(&e.name));
            }
            prop_assert_eq!(timestamp(modified).len(), 14);
        }
    }
}
