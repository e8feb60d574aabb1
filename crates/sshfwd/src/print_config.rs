//! `-G`: the configuration resolved for a destination, printed as OpenSSH
//! 9.2's `ssh -G` prints it (`dump_client_config`): lowercase keyword,
//! space, value, in its order. Keywords sshfwd acts on show sshfwd's
//! value; the others the first value the configuration gave, else
//! OpenSSH's default, so that scripts parsing `ssh -G` read the same.

use std::fmt::Write;
use std::path::PathBuf;

use ssh_files::config::{self, IdentityAgent, LogLevel, RawValue, StrictHostKeyChecking, SyslogFacility};
use ssh_files::forward_spec::{ForwardSpec, Forwarding, HostPort, Listen};

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
            out.line(keyword, self.first(name).unwrap_or(default));
        }
        out.line("numberofpasswordprompts", &s.number_of_password_prompts.to_string());
        out.line("serveralivecountmax", &s.server_alive_count_max.to_string());
        out.line("serveraliveinterval", &s.server_alive_interval.map_or(0, |t| t.as_secs()).to_string());
        out.line("requiredrsasize", self.first("RequiredRSASize").unwrap_or("1024"));
        out.optional("bindaddress", self.first("BindAddress"));
        out.optional("bindinterface", self.first("BindInterface"));
        out.line("ciphers", &self.offered.ciphers);
        out.optional("controlpath", self.expanded("ControlPath").as_deref());
        out.line("hostkeyalgorithms", &self.offered.host_key);
        out.optional("hostkeyalias", s.host_key_alias.as_deref());
        out.line(
            "hostbasedacceptedalgorithms",
            self.first("HostbasedAcceptedAlgorithms").unwrap_or(DEFAULT_KEY_ALGORITHMS),
        );
        match &s.identity_agent {
            IdentityAgent::Path(path) => out.line("identityagent", &path.display().to_string()),
            IdentityAgent::None => out.line("identityagent", "none"),
            IdentityAgent::Environment => out.optional("identityagent", self.first("IdentityAgent")),
        }
        out.optional("ignoreunknown", self.first("IgnoreUnknown"));
        out.optional("kbdinteractivedevices", self.first("KbdInteractiveDevices"));
        out.line("kexalgorithms", &self.offered.kex);
        out.line("casignaturealgorithms", self.first("CASignatureAlgorithms").unwrap_or(DEFAULT_CA_ALGORITHMS));
        out.optional("localcommand", self.first("LocalCommand"));
        out.optional("remotecommand", self.expanded("RemoteCommand").as_deref());
        out.line("loglevel", &self.log_level.to_string());
        out.line("macs", &self.offered.macs);
        out.line("securitykeyprovider", self.first("SecurityKeyProvider").unwrap_or("internal"));
        out.optional("preferredauthentications", self.first("PreferredAuthentications"));
        out.line("pubkeyacceptedalgorithms", &self.pubkey_accepted_algorithms());
        out.optional("revokedhostkeys", self.first("RevokedHostKeys"));
        out.line("xauthlocation", self.first("XAuthLocation").unwrap_or("/usr/bin/xauth"));
        out.optional("knownhostscommand", self.first("KnownHostsCommand"));
        self.forwards(&mut out);
        for file in &self.identity_files {
            out.line("identityfile", file);
        }
        out.line("canonicaldomains", self.first("CanonicalDomains").unwrap_or("none"));
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
        out.line("logverbose", self.first("LogVerbose").unwrap_or("none"));
        out.line("permitremoteopen", self.first("PermitRemoteOpen").unwrap_or("any"));
        out.line("addkeystoagent", self.first("AddKeysToAgent").unwrap_or("false"));
        let forward_agent = match self.first("ForwardAgent") {
            None => "no".to_string(),
            Some(flag @ ("yes" | "no" | "true" | "false")) => flag.to_string(),
            Some(_) => self.expanded("ForwardAgent").unwrap_or_default(),
        };
        out.line("forwardagent", &forward_agent);
        out.line("connecttimeout", &s.connect_timeout.map_or("none".to_string(), |t| t.as_secs().to_string()));
        out.line("tunneldevice", self.first("TunnelDevice").unwrap_or("any:any"));
        // OpenSSH 9.2 prints this keyword with a capital P.
        out.line("canonicalizePermittedcnames", self.first("CanonicalizePermittedCNAMEs").unwrap_or("none"));
        out.line("controlpersist", self.first("ControlPersist").unwrap_or("no"));
        out.line("escapechar", self.first("EscapeChar").unwrap_or("~"));
        out.line("ipqos", self.first("IPQoS").unwrap_or("lowdelay throughput"));
        out.line("rekeylimit", self.first("RekeyLimit").unwrap_or("0 0"));
        out.line("streamlocalbindmask", self.first("StreamLocalBindMask").unwrap_or("0177"));
        out.line("syslogfacility", facility(s.syslog_facility));
        out.0
    }

    /// The first value a keyword was given; `None` for an empty name
    /// (a keyword sshfwd acts on) or one never set.
    fn first(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).first().copied()
    }

    fn all(&self, keyword: &str) -> Vec<&str> {
        self.raw.iter().filter(|r| !keyword.is_empty() && r.keyword == keyword).map(|r| r.value.as_str()).collect()
    }

    /// The first value with `~`, tokens and `${VAR}` expanded, as ssh
    /// expands the keywords it prints so; as written if that fails.
    fn expanded(&self, keyword: &str) -> Option<String> {
        let value = self.first(keyword)?;
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
        crate::ssh::apply_to_list(value, &defaults).join(",")
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
        for spec in forwards {
            if let ForwardSpec::Local(f) = spec {
                out.line("localforward", &forwarding(f));
            }
        }
        for spec in forwards {
            if let ForwardSpec::Remote(f) = spec {
                out.line("remoteforward", &forwarding(f));
            }
        }
        for spec in forwards {
            if let ForwardSpec::FtpToSftp(l) = spec {
                out.line("ftptosftp", &listen(l));
            }
        }
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
