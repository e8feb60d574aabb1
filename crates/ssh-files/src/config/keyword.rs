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
    // Issue 14 (mux)
    ("ControlMaster", Keyword::ControlMaster),
    ("ControlPath", Keyword::ControlPath),
    ("ControlPersist", Keyword::ControlPersist),
];

/// Every other keyword of ssh_config(5), OpenSSH 9.x and 10.x, plus the
/// deprecated and unsupported ones OpenSSH still accepts silently or with a
/// warning, and the GSSAPI key exchange options of the Debian/Fedora patches
/// (their packaged /etc/ssh/ssh_config may use them).
const IGNORED: &[&str] = &[
    "AddKeysToAgent",
    "AddressFamily",
    "BindAddress",
    "BindInterface",
    "CanonicalDomains",
    "CanonicalizeFallbackLocal",
    "CanonicalizeHostname",
    "CanonicalizeMaxDots",
    "CanonicalizePermittedCNAMEs",
    "CASignatureAlgorithms",
    "CertificateFile",
    "ChannelTimeout",
    "CheckHostIP",
    "Compression",
    "ConnectionAttempts",
    "EnableEscapeCommandline",
    "EnableSSHKeysign",
    "EscapeChar",
    "FingerprintHash",
    "ForkAfterAuthentication",
    "ForwardAgent",
    "ForwardX11",
    "ForwardX11Timeout",
    "ForwardX11Trusted",
    "GSSAPIAuthentication",
    "GSSAPIDelegateCredentials",
    "HostbasedAcceptedAlgorithms",
    "HostbasedAcceptedKeyTypes",
    "HostbasedKeyTypes",
    "HostbasedAuthentication",
    "IPQoS",
    "KbdInteractiveDevices",
    "KnownHostsCommand",
    "LocalCommand",
    "LogVerbose",
    "NoHostAuthenticationForLocalhost",
    "NumberOfPasswordPrompts",
    "ObscureKeystrokeTiming",
    "PermitLocalCommand",
    "PermitRemoteOpen",
    "PKCS11Provider",
    "SmartcardDevice",
    "PreferredAuthentications",
    "ProxyUseFdpass",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAcceptedKeyTypes",
    "RekeyLimit",
    "RemoteCommand",
    "RequestTTY",
    "RequiredRSASize",
    "RevokedHostKeys",
    "SecurityKeyProvider",
    "SendEnv",
    "SessionType",
    "SetEnv",
    "StdinNull",
    "StreamLocalBindMask",
    "StreamLocalBindUnlink",
    "Tag",
    "TCPKeepAlive",
    "KeepAlive",
    "Tunnel",
    "TunnelDevice",
    "UpdateHostKeys",
    "VerifyHostKeyDNS",
    "VersionAddendum",
    "VisualHostKey",
    "WarnWeakCrypto",
    "XAuthLocation",
    // Deprecated or unsupported in OpenSSH, still accepted by it.
    "Protocol",
    "Cipher",
    "FallBackToRsh",
    "GlobalKnownHostsFile2",
    "RhostsAuthentication",
    "UserKnownHostsFile2",
    "UseRoaming",
    "UseRsh",
    "UsePrivilegedPort",
    "AFSTokenPassing",
    "KerberosAuthentication",
    "KerberosTGTPassing",
    "RSAAuthentication",
    "RhostsRSAAuthentication",
    "CompressionLevel",
    // Distribution GSSAPI key exchange patches.
    "GSSAPIKeyExchange",
    "GSSAPIClientIdentity",
    "GSSAPIServerIdentity",
    "GSSAPIRenewalForcesRekey",
    "GSSAPITrustDns",
    "GSSAPIKexAlgorithms",
];

impl Keyword {
    /// Looks a keyword up without case.
    pub(crate) fn lookup(word: &str) -> Option<Keyword> {
        KEYWORDS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|&(_, keyword)| keyword)
            .or_else(|| IGNORED.iter().find(|name| name.eq_ignore_ascii_case(word)).map(|&name| Keyword::Ignored(name)))
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
        assert_eq!(Keyword::lookup("forwardagent"), Some(Keyword::Ignored("ForwardAgent")));
        assert_eq!(Keyword::lookup("frobnicate"), None);
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(Keyword::KbdInteractiveAuthentication.name(), "KbdInteractiveAuthentication");
        assert_eq!(Keyword::Macs.name(), "MACs");
        assert_eq!(Keyword::Ignored("ForwardAgent").name(), "ForwardAgent");
    }

    #[test]
    fn tables_do_not_overlap() {
        for (name, _) in KEYWORDS {
            assert!(!IGNORED.iter().any(|i| i.eq_ignore_ascii_case(name)), "{name} is in both tables");
        }
        for (i, name) in IGNORED.iter().enumerate() {
            assert!(!IGNORED[i + 1..].iter().any(|other| other.eq_ignore_ascii_case(name)), "{name} twice");
        }
    }
}
