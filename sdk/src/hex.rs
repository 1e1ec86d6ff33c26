//! Lower-case hex, the encoding of hashes and merkle proofs in Tessera's HTTP APIs.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 32-byte hash from 64 hex digits; `None` for anything else.
pub fn decode32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_refusals() {
        let h = [0xab; 32];
        assert_eq!(super::decode32(&super::encode(&h)), Some(h));
        assert_eq!(super::decode32("ab"), None);
        assert_eq!(super::decode32(&"zz".repeat(32)), None);
    }
}
