//! Socket errors in OpenSSH's words.

/// The text of `e` as OpenSSH prints it (`strerror`): "Connection refused",
/// without Rust's " (os error 111)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_the_errno_suffix() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_reason(&e), "Connection refused");
    }

    #[test]
    fn other_errors_are_kept_whole() {
        let e = std::io::Error::other("failed to lookup address information");
        assert_eq!(io_reason(&e), "failed to lookup address information");
    }
}
