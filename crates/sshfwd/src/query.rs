//! `-Q query_option`: what sshfwd supports, one name a line, as `ssh -Q`.

use crate::ssh::Family;

/// A query ssh does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// OpenSSH's words.
    #[error("Unsupported query \"{0}\"")]
    Unsupported(String),
}

/// The queries, as `-Q help` lists them.
const QUERIES: &[&str] = &[
    "cipher",
    "cipher-auth",
    "compression",
    "kex",
    "key",
    "key-cert",
    "key-plain",
    "key-sig",
    "mac",
    "protocol-version",
    "sig",
];

/// The answer to `-Q query`, a line each, ending with a newline.
pub fn answer(query: &str) -> Result<String, QueryError> {
    let names: Vec<&str> = match query {
        "help" => QUERIES.to_vec(),
        "protocol-version" => vec!["2"],
        query => family(query).ok_or_else(|| QueryError::Unsupported(query.to_string()))?.names(),
    };
    Ok(format!("{}\n", names.join("\n")))
}

/// The family a query names; ssh also takes the option names, without case.
fn family(query: &str) -> Option<Family> {
    let is = |name: &str| query.eq_ignore_ascii_case(name);
    Some(match query {
        "cipher" => Family::Cipher,
        "cipher-auth" => Family::CipherAuth,
        "mac" => Family::Mac,
        "kex" => Family::Kex,
        "key" => Family::Key,
        "key-cert" => Family::KeyCert,
        "key-plain" => Family::KeyPlain,
        "key-sig" => Family::KeySig,
        "sig" => Family::Sig,
        "compression" => Family::Compression,
        _ if is("Ciphers") => Family::Cipher,
        _ if is("MACs") => Family::Mac,
        _ if is("KexAlgorithms") => Family::Kex,
        _ if [
            "PubkeyAcceptedKeyTypes",
            "PubkeyAcceptedAlgorithms",
            "HostKeyAlgorithms",
            "HostbasedKeyTypes",
            "HostbasedAcceptedKeyTypes",
            "HostbasedAcceptedAlgorithms",
        ]
        .iter()
        .any(|name| is(name)) =>
        {
            Family::KeySig
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_their_aliases() {
        let table: &[(&str, &str)] = &[
            ("key-plain", "ssh-ed25519\necdsa-sha2-nistp256\necdsa-sha2-nistp384\necdsa-sha2-nistp521\nssh-rsa\n"),
            ("protocol-version", "2\n"),
            ("compression", "none\nzlib@openssh.com\nzlib\n"),
            ("cipher-auth", "aes128-gcm@openssh.com\naes256-gcm@openssh.com\nchacha20-poly1305@openssh.com\n"),
            ("key-cert", "\n"),
        ];
        for (query, want) in table {
            assert_eq!(answer(query).unwrap(), *want, "{query}");
        }
        assert_eq!(answer("ciphers").unwrap(), answer("cipher").unwrap());
        assert_eq!(answer("MACs").unwrap(), answer("mac").unwrap());
        assert_eq!(answer("kexalgorithms").unwrap(), answer("kex").unwrap());
        assert_eq!(answer("HostKeyAlgorithms").unwrap(), answer("key-sig").unwrap());
        assert!(answer("help").unwrap().starts_with("cipher\ncipher-auth\ncompression\n"));
        assert_eq!(answer("Cipher").unwrap_err().to_string(), "Unsupported query \"Cipher\"");
    }
}
