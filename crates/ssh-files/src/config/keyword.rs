//! The ssh_config keywords sshfwd knows: those it acts on and every other
//! OpenSSH 9.x/10.x keyword, which it accepts and ignores.

/// A recognised keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Host,
    Match,
    Include,
    IgnoreUnknown,
    HostName,
    Port,
    User,
    IdentityFile,
    IdentitiesOnly,
    IdentityAgent,
    UserKnownHostsFile,
    GlobalKnownHostsFile,
    StrictHostKeyChecking,
    HashKnownHosts,
    BatchMode,
    ConnectTimeout,
    ServerAliveInterval,
    ServerAliveCountMax,
    ExitOnForwardFailure,
    GatewayPorts,
    LocalForward,
    RemoteForward,
    DynamicForward,
    ClearAllForwardings,
    PasswordAuthentication,
    PubkeyAuthentication,
    KbdInteractiveAuthentication,
    Ciphers,
    KexAlgorithms,
    Macs,
    HostKeyAlgorithms,
    LogLevel,
    HostKeyAlias,
    ProxyJump,
    ProxyCommand,
    FtpDataTimeout,
    FtpPassiveAddress,
    FtpAllowForeignPassive,
    FtpAllowThirdPartyActive,
    FtpTls,
    FtpToSftp,
    FtpToSftpLogin,
    FtpToSftpPasswordFile,
    Reconnect,
    ReconnectMaxDelay,
    FtpAuditLog,
    // Issue 12, scale and active mode to a third host.
    FtpMaxDataChannels,
    MaxForwardedConnections,
    FtpActiveBindAddress,
    RefuseConnection,
    // Issue 12 (service): OpenSSH's keyword, acted on for `-y`.
    SyslogFacility,
    // Issue 13 (gate13): the limits of sshfwd's listeners as a gateway.
    PerSourceMaxConnections,
    FtpLoginTimeout,
    PerSourcePenaltyExemptList,
    // Issue 14 (proxy): how the TCP connection to the server is made.
    AddressFamily,
    BindAddress,
    BindInterface,
    ConnectionAttempts,
    TcpKeepAlive,
    // Issue 14 (fwd): unix socket listeners and remote dynamic forwarding.
    StreamLocalBindMask,
    StreamLocalBindUnlink,
    PermitRemoteOpen,
    // Issue 14 (proc): the session and the process.
    ForkAfterAuthentication,
    StdinNull,
    SessionType,
    SendEnv,
    SetEnv,
    RemoteCommand,
    PermitLocalCommand,
    LocalCommand,
    // Issue 14 (lead): known hosts from a command.
    KnownHostsCommand,
    ForwardAgent,
    // Issue 14 (config): negotiated with the server.
    Compression,
    NumberOfPasswordPrompts,
    // Issue 14 (mux): connection sharing.
    ControlMaster,
    ControlPath,
    ControlPersist,
    /// A valid OpenSSH keyword that sshfwd does not act on; the name is the
    /// canonical spelling.
    Ignored(&'static str),
}

/// Canonical spelling → keyword. Aliases follow their main name.
const KEYWORDS: &[(&str, Keyword)] = &[
    ("Host", Keyword::Host),
    ("Match", Keyword::Match),
    ("Include", Keyword::Include),
    ("IgnoreUnknown", Keyword::IgnoreUnknown),
    ("HostName", Keyword::HostName),
    ("Port", Keyword::Port),
    ("User", Keyword::User),
    ("IdentityFile", Keyword::IdentityFile),
    ("IdentityFile2", Keyword::IdentityFile),
    ("IdentitiesOnly", Keyword::IdentitiesOnly),
    ("IdentityAgent", Keyword::IdentityAgent),
    ("UserKnownHostsFile", Keyword::UserKnownHostsFile),
    ("GlobalKnownHostsFile", Keyword::GlobalKnownHostsFile),
    ("StrictHostKeyChecking", Keyword::StrictHostKeyChecking),
    ("HashKnownHosts", Keyword::HashKnownHosts),
    ("BatchMode", Keyword::BatchMode),
    ("ConnectTimeout", Keyword::ConnectTimeout),
    ("ServerAliveInterval", Keyword::ServerAliveInterval),
    ("ServerAliveCountMax", Keyword::ServerAliveCountMax),
    ("ExitOnForwardFailure", Keyword::ExitOnForwardFailure),
    ("GatewayPorts", Keyword::GatewayPorts),
    ("LocalForward", Keyword::LocalForward),
    ("RemoteForward", Keyword::RemoteForward),
    ("DynamicForward", Keyword::DynamicForward),
    ("ClearAllForwardings", Keyword::ClearAllForwardings),
    ("PasswordAuthentication", Keyword::PasswordAuthentication),
    ("PubkeyAuthentication", Keyword::PubkeyAuthentication),
    ("DSAAuthentication", Keyword::PubkeyAuthentication),
    ("KbdInteractiveAuthentication", Keyword::KbdInteractiveAuthentication),
    ("ChallengeResponseAuthentication", Keyword::KbdInteractiveAuthentication),
    ("SKeyAuthentication", Keyword::KbdInteractiveAuthentication),
    ("TISAuthentication", Keyword::KbdInteractiveAuthentication),
    ("Ciphers", Keyword::Ciphers),
    ("KexAlgorithms", Keyword::KexAlgorithms),
    ("MACs", Keyword::Macs),
    ("HostKeyAlgorithms", Keyword::HostKeyAlgorithms),
    ("LogLevel", Keyword::LogLevel),
    ("HostKeyAlias", Keyword::HostKeyAlias),
    ("ProxyJump", Keyword::ProxyJump),
    ("ProxyCommand", Keyword::ProxyCommand),
    ("FtpDataTimeout", Keyword::FtpDataTimeout),
    ("FtpPassiveAddress", Keyword::FtpPassiveAddress),
    ("FtpAllowForeignPassive", Keyword::FtpAllowForeignPassive),
    ("FtpAllowThirdPartyActive", Keyword::FtpAllowThirdPartyActive),
    ("FtpTls", Keyword::FtpTls),
    ("FtpToSftp", Keyword::FtpToSftp),
    ("FtpToSftpLogin", Keyword::FtpToSftpLogin),
    ("FtpToSftpPasswordFile", Keyword::FtpToSftpPasswordFile),
    ("Reconnect", Keyword::Reconnect),
    ("ReconnectMaxDelay", Keyword::ReconnectMaxDelay),
    ("FtpAuditLog", Keyword::FtpAuditLog),
    ("FtpMaxDataChannels", Keyword::FtpMaxDataChannels),
    ("MaxForwardedConnections", Keyword::MaxForwardedConnections),
    ("FtpActiveBindAddress", Keyword::FtpActiveBindAddress),
    ("RefuseConnection", Keyword::RefuseConnection),
    ("SyslogFacility", Keyword::SyslogFacility),
    ("PerSourceMaxConnections", Keyword::PerSourceMaxConnections),
    ("FtpLoginTimeout", Keyword::FtpLoginTimeout),
    ("PerSourcePenaltyExemptList", Keyword::PerSourcePenaltyExemptList),
    // Issue 14 (proxy)
    ("AddressFamily", Keyword::AddressFamily),
    ("BindAddress", Keyword::BindAddress),
    ("BindInterface", Keyword::BindInterface),
    ("ConnectionAttempts", Keyword::ConnectionAttempts),
    ("TCPKeepAlive", Keyword::TcpKeepAlive),
    ("KeepAlive", Keyword::TcpKeepAlive),
    // Issue 14 (fwd)
    ("StreamLocalBindMask", Keyword::StreamLocalBindMask),
    ("StreamLocalBindUnlink", Keyword::StreamLocalBindUnlink),
    ("PermitRemoteOpen", Keyword::PermitRemoteOpen),
    // Issue 14 (proc).
    ("ForkAfterAuthentication", Keyword::ForkAfterAuthentication),
    ("StdinNull", Keyword::StdinNull),
    ("SessionType", Keyword::SessionType),
    ("SendEnv", Keyword::SendEnv),
    ("SetEnv", Keyword::SetEnv),
    ("RemoteCommand", Keyword::RemoteCommand),
    ("PermitLocalCommand", Keyword::PermitLocalCommand),
    ("LocalCommand", Keyword::LocalCommand),
    ("KnownHostsCommand", Keyword::KnownHostsCommand),
    ("ForwardAgent", Keyword::ForwardAgent),
    // Issue 14 (config)
    ("Compression", Keyword::Compression),
    ("NumberOfPasswordPrompts", Keyword::NumberOfPasswordPrompts),
    // Issue 14 (mux)
    ("ControlMaster", Keyword::ControlMaster),
    ("ControlPath", Keyword::ControlPath),
    ("ControlPersist", Keyword::ControlPersist),
];

/// What setting an ignored keyword means for a user of sshfwd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing sshfwd does would change (it is about a feature sshfwd never
    /// uses, or only about what ssh prints): noted at debug1.
    Harmless,
    /// ssh would act differently unless the first argument is one of these
    /// (lowercase; `true`/`false` read as `yes`/`no`): a warning. An empty
    /// list warns whenever the keyword is set.
    UnlessSetTo(&'static [&'static str]),
}

impl Effect {
    /// Whether setting the keyword to `args` changes what ssh would do.
    pub(crate) fn changes_behaviour(self, args: &[String]) -> bool {
        match self {
            Effect::Harmless => false,
            Effect::UnlessSetTo(defaults) => {
                let first = args.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
                let first = match first.as_str() {
                    "true" => "yes",
                    "false" => "no",
                    other => other,
                };
                !defaults.contains(&first)
            }
        }
    }
}

/// Every other keyword of ssh_config(5), OpenSSH 9.x and 10.x, plus the
/// deprecated and unsupported ones OpenSSH still accepts silently or with a
/// warning, and the GSSAPI key exchange options of the Debian/Fedora patches
/// (their packaged /etc/ssh/ssh_config may use them).
const IGNORED: &[(&str, Effect)] = &[
    ("AddKeysToAgent", Effect::UnlessSetTo(&["no"])),
    ("CanonicalDomains", Effect::Harmless),
    ("CanonicalizeFallbackLocal", Effect::Harmless),
    ("CanonicalizeHostname", Effect::UnlessSetTo(&["no"])),
    ("CanonicalizeMaxDots", Effect::Harmless),
    ("CanonicalizePermittedCNAMEs", Effect::Harmless),
    ("CASignatureAlgorithms", Effect::Harmless),
    ("CertificateFile", Effect::UnlessSetTo(&[])),
    ("ChannelTimeout", Effect::UnlessSetTo(&["none"])),
    ("CheckHostIP", Effect::Harmless),
    ("EnableEscapeCommandline", Effect::Harmless),
    ("EnableSSHKeysign", Effect::Harmless),
    ("EscapeChar", Effect::Harmless),
    ("FingerprintHash", Effect::UnlessSetTo(&["sha256"])),
    ("ForwardX11", Effect::UnlessSetTo(&["no"])),
    ("ForwardX11Timeout", Effect::Harmless),
    ("ForwardX11Trusted", Effect::Harmless),
    ("GSSAPIAuthentication", Effect::Harmless),
    ("GSSAPIDelegateCredentials", Effect::UnlessSetTo(&["no"])),
    ("HostbasedAcceptedAlgorithms", Effect::Harmless),
    ("HostbasedAcceptedKeyTypes", Effect::Harmless),
    ("HostbasedKeyTypes", Effect::Harmless),
    ("HostbasedAuthentication", Effect::UnlessSetTo(&["no"])),
    ("IPQoS", Effect::Harmless),
    ("KbdInteractiveDevices", Effect::Harmless),
    ("LogVerbose", Effect::Harmless),
    ("NoHostAuthenticationForLocalhost", Effect::UnlessSetTo(&["no"])),
    ("ObscureKeystrokeTiming", Effect::Harmless),
    ("PKCS11Provider", Effect::UnlessSetTo(&["none"])),
    ("SmartcardDevice", Effect::UnlessSetTo(&[])),
    ("PreferredAuthentications", Effect::UnlessSetTo(&[])),
    ("ProxyUseFdpass", Effect::UnlessSetTo(&["no"])),
    ("PubkeyAcceptedAlgorithms", Effect::UnlessSetTo(&[])),
    ("PubkeyAcceptedKeyTypes", Effect::UnlessSetTo(&[])),
    ("RekeyLimit", Effect::UnlessSetTo(&["default"])),
    ("RequestTTY", Effect::UnlessSetTo(&["no", "auto"])),
    ("RequiredRSASize", Effect::Harmless),
    ("RevokedHostKeys", Effect::UnlessSetTo(&[])),
    ("SecurityKeyProvider", Effect::UnlessSetTo(&["internal"])),
    ("Tag", Effect::Harmless),
    ("Tunnel", Effect::UnlessSetTo(&["no"])),
    ("TunnelDevice", Effect::Harmless),
    ("UpdateHostKeys", Effect::Harmless),
    ("VerifyHostKeyDNS", Effect::UnlessSetTo(&["no"])),
    ("VersionAddendum", Effect::Harmless),
    ("VisualHostKey", Effect::Harmless),
    ("WarnWeakCrypto", Effect::Harmless),
    ("XAuthLocation", Effect::Harmless),
    // Deprecated or unsupported in OpenSSH, still accepted by it.
    ("Protocol", Effect::Harmless),
    ("Cipher", Effect::Harmless),
    ("FallBackToRsh", Effect::Harmless),
    ("GlobalKnownHostsFile2", Effect::Harmless),
    ("RhostsAuthentication", Effect::Harmless),
    ("UserKnownHostsFile2", Effect::Harmless),
    ("UseRoaming", Effect::Harmless),
    ("UseRsh", Effect::Harmless),
    ("UsePrivilegedPort", Effect::Harmless),
    ("AFSTokenPassing", Effect::Harmless),
    ("KerberosAuthentication", Effect::Harmless),
    ("KerberosTGTPassing", Effect::Harmless),
    ("RSAAuthentication", Effect::Harmless),
    ("RhostsRSAAuthentication", Effect::Harmless),
    ("CompressionLevel", Effect::Harmless),
    // Distribution GSSAPI key exchange patches.
    ("GSSAPIKeyExchange", Effect::Harmless),
    ("GSSAPIClientIdentity", Effect::Harmless),
    ("GSSAPIServerIdentity", Effect::Harmless),
    ("GSSAPIRenewalForcesRekey", Effect::Harmless),
    ("GSSAPITrustDns", Effect::Harmless),
    ("GSSAPIKexAlgorithms", Effect::Harmless),
];

impl Keyword {
    /// Looks a keyword up without case.
    pub(crate) fn lookup(word: &str) -> Option<Keyword> {
        KEYWORDS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|&(_, keyword)| keyword).or_else(|| {
            IGNORED.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|&(name, _)| Keyword::Ignored(name))
        })
    }

    /// How much ignoring this keyword matters; `Harmless` for the keywords
    /// sshfwd acts on.
    pub(crate) fn effect(self) -> Effect {
        match self {
            Keyword::Ignored(name) => IGNORED.iter().find(|(n, _)| *n == name).map_or(Effect::Harmless, |&(_, e)| e),
            _ => Effect::Harmless,
        }
    }

    /// The canonical spelling, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Keyword::Ignored(name) => name,
            keyword => KEYWORDS.iter().find(|&&(_, k)| k == keyword).map_or("?", |&(name, _)| name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_folds_aliases() {
        assert_eq!(Keyword::lookup("hostname"), Some(Keyword::HostName));
        assert_eq!(Keyword::lookup("HOSTNAME"), Some(Keyword::HostName));
        assert_eq!(Keyword::lookup("ChallengeResponseAuthentication"), Some(Keyword::KbdInteractiveAuthentication));
        assert_eq!(Keyword::lookup("macs"), Some(Keyword::Macs));
        assert_eq!(Keyword::lookup("forwardagent"), Some(Keyword::ForwardAgent));
        assert_eq!(Keyword::lookup("frobnicate"), None);
    }

    #[test]
    fn ignored_keywords_warn_only_when_set_away_from_what_sshfwd_does() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("GSSAPIAuthentication", &["yes"], false),
            ("VisualHostKey", &["yes"], false),
            ("CheckHostIP", &["yes"], false),
            ("IPQoS", &["af21", "cs1"], false),
            ("ForwardX11", &["no"], false),
            ("ForwardX11", &["yes"], true),
            ("ForwardX11Trusted", &["no"], false),
            ("AddKeysToAgent", &["no"], false),
            ("AddKeysToAgent", &["confirm"], true),
            ("CanonicalizeHostname", &["no"], false),
            ("CanonicalizeHostname", &["always"], true),
            ("RequestTTY", &["auto"], false),
            ("RequestTTY", &["force"], true),
            ("ProxyUseFdpass", &["yes"], true),
            ("CertificateFile", &["~/.ssh/id_ed25519-cert.pub"], true),
            ("VerifyHostKeyDNS", &["No"], false),
            ("VerifyHostKeyDNS", &["yes"], true),
            ("UseRoaming", &["yes"], false),
        ];
        for (keyword, args, warns) in cases {
            let Some(keyword_found) = Keyword::lookup(keyword) else {
                // Another part of sshfwd acts on it now.
                continue;
            };
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            assert_eq!(keyword_found.effect().changes_behaviour(&args), *warns, "{keyword} {args:?}");
        }
        assert_eq!(Keyword::HostName.effect(), Effect::Harmless);
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(Keyword::KbdInteractiveAuthentication.name(), "KbdInteractiveAuthentication");
        assert_eq!(Keyword::Macs.name(), "MACs");
        assert_eq!(Keyword::Ignored("ForwardX11").name(), "ForwardX11");
    }

    #[test]
    fn tables_do_not_overlap() {
        for (name, _) in KEYWORDS {
            assert!(!IGNORED.iter().any(|(i, _)| i.eq_ignore_ascii_case(name)), "{name} is in both tables");
        }
        for (i, (name, _)) in IGNORED.iter().enumerate() {
            assert!(!IGNORED[i + 1..].iter().any(|(other, _)| other.eq_ignore_ascii_case(name)), "{name} twice");
        }
    }
}
