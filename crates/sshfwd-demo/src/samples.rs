//! The files the demo's FTP server serves.

use std::path::Path;

/// The file the self-check downloads, big enough to show a rate.
pub const SAMPLE_FILE: &str = "sample-8MiB.bin";

/// Fills `root` (created if missing) with a readme, [`SAMPLE_FILE`] and a
/// subdirectory.
pub(crate) fn write(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("pub"))?;
    std::fs::write(
        root.join("readme.txt"),
        "This file reached you through an FTP forward inside an SSH connection, made by sshfwd --demo.\n",
    )?;
    std::fs::write(root.join(SAMPLE_FILE), sample_bytes(8 << 20, 42))?;
    std::fs::write(root.join("pub/small.txt"), "small\n")?;
    Ok(())
}

/// Deterministic bytes that do not compress (xorshift), so that no layer
/// can make the transfer look faster than it is.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_bytes_are_deterministic_per_seed_and_exactly_as_long_as_asked() {
        assert_eq!(sample_bytes(13, 1), sample_bytes(13, 1));
        assert_ne!(sample_bytes(13, 1), sample_bytes(13, 2));
        assert_eq!(sample_bytes(13, 1).len(), 13);
        assert!(sample_bytes(0, 1).is_empty());
    }
}
