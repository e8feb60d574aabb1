//! `-G`: the configuration resolved for a destination, printed as OpenSSH
//! 9.2's `ssh -G` prints it (`dump_client_config`): lowercase keyword,
//! space, value, in its order. Keywords sshfwd acts on show sshfwd's
//! value; the others the first value the configuration gave, else
//! OpenSSH's default, so that scripts parsing `ssh -G` read the same.

use std::fmt::Write;
use std::path::PathBuf;

use ssh_files::config::{self, IdentityAgent, LogLevel, RawValue, StrictHostKeyChecking, SyslogFacility};
use ssh_files::forward_spec::{ConnectTo, ForwardSpec, Forwarding, HostPort, Listen, ListenOn, StreamForwarding};

use crate::ssh::Offered;

/// Everything `-G` prints.
#[derive(Debug, Clone)]
pub struct ConfigDump {
    pub settings: config::Settings,
    /// Every applicable option line, in the order read.
    pub raw: Vec<RawValue>,
    pub offered: Offered,
    /// The identity files as written (ssh expands them later).
    pub identity_files: Vec<String>,
    pub clear_all_forwardings: bool,
    pub log_level: LogLevel,
    pub home: PathBuf,
    pub local_user: String,
}

/// OpenSSH 9.2's defaults for the public key lists it prints.
const DEFAULT_KEY_ALGORITHMS: &str = "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,\
ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,\
sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,\
ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,\
sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
const DEFAULT_CA_ALGORITHMS: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,\
sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
/// Debian's GSSAPI key exchange patch prints this too.
const DEFAULT_GSSAPI_KEX: &str = "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,\
gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-";

impl ConfigDump {
    /// The text `ssh -G` would print.
    pub fn render(&self) -> String {
        let s = &self.settings;
        let mut out = Lines(String::new());
        let yes_no = |flag: bool| if flag { "yes" } else { "no" };
        out.line("host", &s.original_host);
        out.line("user", &s.user);
        out.line("hostname", &s.host_name);
        out.line("port", &s.port.to_string());
        for (keyword, name, default) in [
            ("addressfamily", "AddressFamily", "any"),
            ("batchmode", "", yes_no(s.batch_mode)),
            ("canonicalizefallbacklocal", "CanonicalizeFallbackLocal", "yes"),
            ("canonicalizehostname", "CanonicalizeHostname", "false"),
            ("checkhostip", "CheckHostIP", "no"),
            ("compression", "", yes_no(s.compression)),
            ("controlmaster", "ControlMaster", "false"),
            ("enablesshkeysign", "EnableSSHKeysign", "no"),
            ("clearallforwardings", "", yes_no(self.clear_all_forwardings)),
            ("exitonforwardfailure", "", yes_no(s.exit_on_forward_failure)),
            ("fingerprinthash", "FingerprintHash", "SHA256"),
            ("forwardx11", "ForwardX11", "no"),
            ("forwardx11trusted", "ForwardX11Trusted", "yes"),
            ("gatewayports", "", yes_no(s.gateway_ports)),
            ("gssapiauthentication", "GSSAPIAuthentication", "no"),
            ("gssapikeyexchange", "GSSAPIKeyExchange", "no"),
            ("gssapidelegatecredentials", "GSSAPIDelegateCredentials", "no"),
            ("gssapitrustdns", "GSSAPITrustDns", "no"),
            ("gssapirenewalforcesrekey", "GSSAPIRenewalForcesRekey", "no"),
            ("gssapikexalgorithms", "GSSAPIKexAlgorithms", DEFAULT_GSSAPI_KEX),
            ("hashknownhosts", "", yes_no(s.hash_known_hosts)),
            ("hostbasedauthentication", "HostbasedAuthentication", "no"),
            ("identitiesonly", "", yes_no(s.identities_only)),
            ("kbdinteractiveauthentication", "", yes_no(s.kbd_interactive_authentication)),
            ("nohostauthenticationforlocalhost", "NoHostAuthenticationForLocalhost", "no"),
            ("passwordauthentication", "", yes_no(s.password_authentication)),
            ("permitlocalcommand", "PermitLocalCommand", "no"),
            ("proxyusefdpass", "ProxyUseFdpass", "no"),
            ("pubkeyauthentication", "", if s.pubkey_authentication { "true" } else { "no" }),
            ("requesttty", "RequestTTY", "auto"),
            ("sessiontype", "SessionType", "default"),
            ("stdinnull", "StdinNull", "no"),
            ("forkafterauthentication", "ForkAfterAuthentication", "no"),
            ("streamlocalbindunlink", "StreamLocalBindUnlink", "no"),
            ("stricthostkeychecking", "", strict(s.strict_host_key_checking)),
            ("tcpkeepalive", "TCPKeepAlive", "yes"),
            ("tunnel", "Tunnel", "false"),
            ("verifyhostkeydns", "VerifyHostKeyDNS", "false"),
            ("visualhostkey", "VisualHostKey", "no"),
            ("updatehostkeys", "UpdateHostKeys", "true"),
            ("enableescapecommandline", "EnableEscapeCommandline", "no"),
            ("canonicalizemaxdots", "CanonicalizeMaxDots", "1"),
            ("connectionattempts", "ConnectionAttempts", "1"),
            ("forwardx11timeout", "ForwardX11Timeout", "1200"),
        ] {
            out.line(keyword, &self.value_or(name, default));
        }
        out.line("numberofpasswordprompts", &s.number_of_password_prompts.to_string());
        out.line("serveralivecountmax", &s.server_alive_count_max.to_string());
        out.line("serveraliveinterval", &s.server_alive_interval.map_or(0, |t| t.as_secs()).to_string());
        out.line("requiredrsasize", &self.value_or("RequiredRSASize", "1024"));
        out.optional("bindaddress", self.first("BindAddress").as_deref());
        out.optional("bindinterface", self.first("BindInterface").as_deref());
        out.line("ciphers", &self.offered.ciphers);
        out.optional("controlpath", self.expanded("ControlPath").as_deref());
        out.line("hostkeyalgorithms", &self.offered.host_key);
        out.optional("hostkeyalias", s.host_key_alias.as_deref());
        out.line("hostbasedacceptedalgorithms", &self.value_or("HostbasedAcceptedAlgorithms", DEFAULT_KEY_ALGORITHMS));
        match &s.identity_agent {
            IdentityAgent::Path(path) => out.line("identityagent", &path.display().to_string()),
            IdentityAgent::None => out.line("identityagent", "none"),
            IdentityAgent::Environment => out.optional("identityagent", self.first("IdentityAgent").as_deref()),
        }
        out.optional("ignoreunknown", self.first("IgnoreUnknown").as_deref());
        out.optional("kbdinteractivedevices", self.first("KbdInteractiveDevices").as_deref());
        out.line("kexalgorithms", &self.offered.kex);
        out.line("casignaturealgorithms", &self.value_or("CASignatureAlgorithms", DEFAULT_CA_ALGORITHMS));
        out.optional("localcommand", self.first("LocalCommand").as_deref());
        out.optional("remotecommand", self.expanded("RemoteCommand").as_deref());
        out.line("loglevel", &self.log_level.to_string());
        out.line("macs", &self.offered.macs);
        out.line("securitykeyprovider", &self.value_or("SecurityKeyProvider", "internal"));
        out.optional("preferredauthentications", self.first("PreferredAuthentications").as_deref());
        out.line("pubkeyacceptedalgorithms", &self.pubkey_accepted_algorithms());
        out.optional("revokedhostkeys", self.first("RevokedHostKeys").as_deref());
        out.line("xauthlocation", &self.value_or("XAuthLocation", "/usr/bin/xauth"));
        out.optional("knownhostscommand", self.first("KnownHostsCommand").as_deref());
        self.forwards(&mut out);
        for file in &self.identity_files {
            out.line("identityfile", file);
        }
        out.line("canonicaldomains", &self.value_or("CanonicalDomains", "none"));
        for file in self.all("CertificateFile") {
            out.line("certificatefile", file);
        }
        out.line("globalknownhostsfile", &paths(&s.global_known_hosts_files));
        out.line("userknownhostsfile", &paths(&s.user_known_hosts_files));
        // ssh keeps each argument of these as an entry of its own.
        for (keyword, name) in [("sendenv", "SendEnv"), ("setenv", "SetEnv")] {
            for variable in self.raw.iter().filter(|r| r.keyword == name).flat_map(|r| &r.args) {
                out.line(keyword, variable);
            }
        }
        out.line("logverbose", &self.value_or("LogVerbose", "none"));
        out.line("permitremoteopen", &self.value_or("PermitRemoteOpen", "any"));
        out.line("addkeystoagent", &self.value_or("AddKeysToAgent", "false"));
        let forward_agent = match self.first("ForwardAgent").as_deref() {
            None => "no".to_string(),
            Some(flag @ ("yes" | "no")) => flag.to_string(),
            Some(_) => self.expanded("ForwardAgent").unwrap_or_default(),
        };
        out.line("forwardagent", &forward_agent);
        out.line("connecttimeout", &s.connect_timeout.map_or("none".to_string(), |t| t.as_secs().to_string()));
        out.line("tunneldevice", &self.value_or("TunnelDevice", "any:any"));
        // OpenSSH 9.2 prints this keyword with a capital P.
        out.line("canonicalizePermittedcnames", &self.value_or("CanonicalizePermittedCNAMEs", "none"));
        out.line("controlpersist", &self.value_or("ControlPersist", "no"));
        out.line("escapechar", &self.value_or("EscapeChar", "~"));
        out.line("ipqos", &self.value_or("IPQoS", "lowdelay throughput"));
        out.line("rekeylimit", &self.value_or("RekeyLimit", "0 0"));
        out.line("streamlocalbindmask", &self.value_or("StreamLocalBindMask", "0177"));
        out.line("syslogfacility", facility(s.syslog_facility));
        out.0
    }

    /// The first value a keyword was given, spelt as ssh prints it; `None`
    /// for an empty name (a keyword sshfwd acts on) or one never set.
    fn first(&self, keyword: &str) -> Option<String> {
        self.all(keyword).first().map(|value| spelt_as_ssh(keyword, value))
    }

    /// The first value, or ssh's default.
    fn value_or(&self, keyword: &str, default: &str) -> String {
        self.first(keyword).unwrap_or_else(|| default.to_string())
    }

    fn all(&self, keyword: &str) -> Vec<&str> {
        self.raw.iter().filter(|r| !keyword.is_empty() && r.keyword == keyword).map(|r| r.value.as_str()).collect()
    }

    /// The first value with `~`, tokens and `${VAR}` expanded, as ssh
    /// expands the keywords it prints so; as written if that fails.
    fn expanded(&self, keyword: &str) -> Option<String> {
        let value = self.all(keyword).first().copied()?;
        let expanded = self.settings.expand_tokens(value, &self.home, &self.local_user);
        Some(expanded.unwrap_or_else(|_| value.to_string()))
    }

    /// `PubkeyAcceptedAlgorithms` applied to OpenSSH's default list, as
    /// ssh prints it (sshfwd does not filter keys by it).
    fn pubkey_accepted_algorithms(&self) -> String {
        let defaults: Vec<&str> = DEFAULT_KEY_ALGORITHMS.split(',').collect();
        let Some(value) = self.first("PubkeyAcceptedAlgorithms") else {
            return DEFAULT_KEY_ALGORITHMS.to_string();
        };
        crate::ssh::apply_to_list(&value, &defaults).join(",")
    }

    fn forwards(&self, out: &mut Lines) {
        let listen = |l: &Listen| match &l.bind {
            None => l.port.to_string(),
            Some(bind) => format!("[{bind}]:{}", l.port),
        };
        let target = |t: &HostPort| format!("[{}]:{}", t.host, t.port);
        let forwarding = |f: &Forwarding| {
            let prefix = if f.ftp { "ftp/" } else { "" };
            format!("{prefix}{} {}", listen(&f.listen), target(&f.target))
        };
        let forwards = &self.settings.forwards;
        for spec in forwards {
            if let ForwardSpec::Dynamic(l) = spec {
                out.line("dynamicforward", &listen(l));
            }
        }
        let stream = |f: &StreamForwarding| {
            let listen = match &f.listen {
                ListenOn::Port(l) => listen(l),
                ListenOn::Path(path) => path.clone(),
            };
            let target = match &f.target {
                ConnectTo::Host(t) => target(t),
                ConnectTo::Path(path) => path.clone(),
            };
            format!("{listen} {target}")
        };
        for spec in forwards {
            match spec {
                ForwardSpec::Local(f) => out.line("localforward", &forwarding(f)),
                ForwardSpec::LocalStream(f) => out.line("localforward", &stream(f)),
                _ => {}
            }
        }
        for spec in forwards {
            match spec {
                ForwardSpec::Remote(f) => out.line("remoteforward", &forwarding(f)),
                ForwardSpec::RemoteStream(f) => out.line("remoteforward", &stream(f)),
                // ssh -G prints a remote dynamic forwarding so.
                ForwardSpec::RemoteDynamic(l) => out.line("remoteforward", &format!("{} [socks]:0", listen(l))),
                _ => {}
            }
        }
        for spec in forwards {
            if let ForwardSpec::FtpToSftp(l) = spec {
                out.line("ftptosftp", &listen(l));
            }
        }
    }
}

/// The yes/no keywords sshfwd prints as configured.
const FLAGS: &[&str] = &[
    "CanonicalizeFallbackLocal",
    "CheckHostIP",
    "EnableSSHKeysign",
    "ForwardX11",
    "ForwardX11Trusted",
    "GSSAPIAuthentication",
    "GSSAPIKeyExchange",
    "GSSAPIDelegateCredentials",
    "GSSAPITrustDns",
    "GSSAPIRenewalForcesRekey",
    "HostbasedAuthentication",
    "NoHostAuthenticationForLocalhost",
    "PermitLocalCommand",
    "ProxyUseFdpass",
    "StdinNull",
    "ForkAfterAuthentication",
    "StreamLocalBindUnlink",
    "TCPKeepAlive",
    "VisualHostKey",
    "EnableEscapeCommandline",
];

/// A configured value as ssh prints it back: multi-state keywords by the
/// first name of their state, times in seconds, sizes in bytes, masks in
/// octal (OpenSSH's `fmt_intarg` and `dump_client_config`).
fn spelt_as_ssh(keyword: &str, value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let state = |states: &[(&[&str], &str)]| {
        states.iter().find(|(names, _)| names.contains(&lower.as_str())).map(|(_, printed)| printed.to_string())
    };
    let true_false: &[(&[&str], &str)] = &[(&["yes", "true"], "true"), (&["no", "false"], "false")];
    let spelt = match keyword {
        "VerifyHostKeyDNS"
        | "UpdateHostKeys"
        | "AddKeysToAgent"
        | "RequestTTY"
        | "CanonicalizeHostname"
        | "ControlMaster" => state(true_false),
        "Tunnel" => state(&[(&["yes", "true", "point-to-point"], "point-to-point"), (&["no", "false"], "false")]),
        "FingerprintHash" => Some(value.to_ascii_uppercase()),
        "ForwardX11Timeout" => config::parse_seconds(value).map(|s| s.to_string()),
        "ControlPersist" if !matches!(lower.as_str(), "yes" | "no" | "true" | "false") => {
            config::parse_seconds(value).map(|s| s.to_string())
        }
        // One value sets both the interactive and the bulk class.
        "IPQoS" if !value.contains(' ') => Some(format!("{value} {value}")),
        "RekeyLimit" => Some(rekey_limit(value)),
        "StreamLocalBindMask" => u32::from_str_radix(value, 8).ok().map(|mask| format!("0{mask:o}")),
        flag if FLAGS.contains(&flag) => state(&[(&["yes", "true"], "yes"), (&["no", "false"], "no")]),
        _ => None,
    };
    spelt.unwrap_or_else(|| value.to_string())
}

/// `RekeyLimit size [time]` as ssh prints it: bytes and seconds, 0 for
/// `default` and `none`.
fn rekey_limit(value: &str) -> String {
    let mut words = value.split_whitespace();
    let bytes = match words.next() {
        Some(size) if size.eq_ignore_ascii_case("default") => Some(0),
        Some(size) => {
            let (digits, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit()).unwrap_or(size.len()));
            let scale: Option<u64> = match unit.to_ascii_uppercase().as_str() {
                "" => Some(1),
                "K" => Some(1 << 10),
                "M" => Some(1 << 20),
                "G" => Some(1 << 30),
                _ => None,
            };
            digits.parse::<u64>().ok().zip(scale).and_then(|(n, scale)| n.checked_mul(scale))
        }
        None => None,
    };
    let seconds = match words.next() {
        None => Some(0),
        Some(time) if time.eq_ignore_ascii_case("none") => Some(0),
        Some(time) => config::parse_seconds(time),
    };
    match (bytes, seconds) {
        (Some(bytes), Some(seconds)) => format!("{bytes} {seconds}"),
        _ => value.to_string(),
    }
}

/// The printed text.
struct Lines(String);

impl Lines {
    fn line(&mut self, keyword: &str, value: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "{keyword} {value}");
    }

    fn optional(&mut self, keyword: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.line(keyword, value);
        }
    }
}

/// OpenSSH's `multistate_strict_hostkey` spellings.
fn strict(value: StrictHostKeyChecking) -> &'static str {
    match value {
        StrictHostKeyChecking::Yes => "true",
        StrictHostKeyChecking::No => "false",
        StrictHostKeyChecking::Ask => "ask",
        StrictHostKeyChecking::AcceptNew => "accept-new",
    }
}

fn facility(value: SyslogFacility) -> &'static str {
    match value {
        SyslogFacility::User => "USER",
        SyslogFacility::Daemon => "DAEMON",
        SyslogFacility::Auth => "AUTH",
        SyslogFacility::AuthPriv => "AUTHPRIV",
        SyslogFacility::Local(0) => "LOCAL0",
        SyslogFacility::Local(1) => "LOCAL1",
        SyslogFacility::Local(2) => "LOCAL2",
        SyslogFacility::Local(3) => "LOCAL3",
        SyslogFacility::Local(4) => "LOCAL4",
        SyslogFacility::Local(5) => "LOCAL5",
        SyslogFacility::Local(6) => "LOCAL6",
        SyslogFacility::Local(_) => "LOCAL7",
    }
}

/// A known_hosts list on one line; `none` when empty.
fn paths(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "none".to_string();
    }
    files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_files::config::ConfigSources;
    use std::path::Path;

    /// The dump for `-o` options only, as `-F none` would give.
    fn dump(options: &[&str]) -> Printed {
        let mut sources = ConfigSources::new("/home/me", "me");
        sources.user_file = Some("none".into());
        sources.cli_options = options.iter().map(|o| o.to_string()).collect();
        let resolved = config::resolve(&sources, "h").unwrap();
        let settings = config::Settings::new("h", resolved.options, Path::new("/home/me"), "me").unwrap();
        let dump = ConfigDump {
            settings,
            raw: resolved.raw,
            offered: Offered::default(),
            identity_files: Vec::new(),
            clear_all_forwardings: false,
            log_level: LogLevel::Info,
            home: "/home/me".into(),
            local_user: "me".into(),
        };
        Printed(dump.render())
    }

    /// What `-G` printed.
    struct Printed(String);

    impl Printed {
        fn value(&self, keyword: &str) -> Option<&str> {
            self.0.lines().find_map(|line| line.strip_prefix(keyword)?.strip_prefix(' '))
        }
    }

    #[test]
    fn values_as_ssh_prints_them() {
        let table: &[(&[&str], &str, &str)] = &[
            (&[], "connecttimeout", "none"),
            (&["ConnectTimeout 7"], "connecttimeout", "7"),
            (&[], "forwardagent", "no"),
            (&["ForwardAgent ~/agent-%r"], "forwardagent", "/home/me/agent-me"),
            (&["ControlPath ~"], "controlpath", "/home/me/"),
            (&["IPQoS af21 cs1"], "ipqos", "af21 cs1"),
            (&[], "ipqos", "lowdelay throughput"),
            (&["StrictHostKeyChecking yes"], "stricthostkeychecking", "true"),
            (&["PubkeyAuthentication no"], "pubkeyauthentication", "no"),
            (&[], "pubkeyauthentication", "true"),
            (&["SyslogFacility local5"], "syslogfacility", "LOCAL5"),
            (&["UserKnownHostsFile none"], "userknownhostsfile", "none"),
            (&["GlobalKnownHostsFile /a /b"], "globalknownhostsfile", "/a /b"),
            (&["SendEnv LANG LC_*"], "sendenv", "LANG"),
            (&["CheckHostIP true"], "checkhostip", "yes"),
            (&["RemoteCommand true"], "remotecommand", "true"),
            (&["VerifyHostKeyDNS yes"], "verifyhostkeydns", "true"),
            (&["Tunnel yes"], "tunnel", "point-to-point"),
            (&["FingerprintHash md5"], "fingerprinthash", "MD5"),
            (&["ForwardX11Timeout 5m"], "forwardx11timeout", "300"),
            (&["ControlPersist 10m"], "controlpersist", "600"),
            (&["ControlPersist yes"], "controlpersist", "yes"),
            (&["IPQoS ef"], "ipqos", "ef ef"),
            (&["RekeyLimit 1G 1h"], "rekeylimit", "1073741824 3600"),
            (&["RekeyLimit default none"], "rekeylimit", "0 0"),
            (&["StreamLocalBindMask 0077"], "streamlocalbindmask", "077"),
        ];
        for (options, keyword, want) in table {
            assert_eq!(dump(options).value(keyword), Some(*want), "{options:?}");
        }
        assert_eq!(dump(&[]).value("controlpath"), None, "unset strings are left out, as ssh does");
    }

    #[test]
    fn pubkey_accepted_algorithms_apply_to_opensshs_default() {
        let all = dump(&[]).value("pubkeyacceptedalgorithms").map(str::to_string).unwrap();
        assert_eq!(all, DEFAULT_KEY_ALGORITHMS);
        let got = dump(&["PubkeyAcceptedAlgorithms -ssh-ed25519-cert*"]);
        let list: Vec<&str> = got.value("pubkeyacceptedalgorithms").unwrap().split(',').collect();
        assert!(list.contains(&"ssh-ed25519") && !list.contains(&"ssh-ed25519-cert-v01@openssh.com"));
        let got = dump(&["PubkeyAcceptedAlgorithms ssh-ed25519"]);
        assert_eq!(got.value("pubkeyacceptedalgorithms"), Some("ssh-ed25519"));
    }
}
