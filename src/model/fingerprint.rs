use std::fmt;

/// Alertmanager's alert fingerprint: FNV-1a 64 over the labels sorted by name, each written as
/// name, 0xFF, value, 0xFF. Equal fingerprints are what makes a re-sent alert the same alert.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Fingerprint(pub u64);

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

/// FNV-1a 64 of `bytes`, continuing from `hash` (start from [`FNV_OFFSET`]).
pub(crate) fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

impl Fingerprint {
    /// `labels` must come sorted by name, as `LabelSet` iterates them.
    pub fn of_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> Fingerprint {
        let mut hash = FNV_OFFSET;
        for (name, value) in labels {
            hash = fnv1a(hash, name.as_bytes());
            hash = fnv1a(hash, &[SEPARATOR]);
            hash = fnv1a(hash, value.as_bytes());
            hash = fnv1a(hash, &[SEPARATOR]);
        }
        Fingerprint(hash)
    }

    pub fn parse(s: &str) -> Option<Fingerprint> {
        u64::from_str_radix(s, 16).ok().map(Fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::LabelSet;

    #[test]
    fn matches_alertmanager_fingerprints() {
        let a: LabelSet = [
            ("alertname", "HighLatency"),
            ("cluster", "eu1"),
            ("instance", "a:9100"),
            ("severity", "critical"),
        ]
        .into_iter()
        .collect();
        assert_eq!(a.fingerprint().to_string(), "e35edba2120d272d");
        let b: LabelSet = [
            ("alertname", "DiskFull"),
            ("cluster", "c1"),
            ("instance", "z"),
            ("severity", "page"),
        ]
        .into_iter()
        .collect();
        assert_eq!(b.fingerprint().to_string(), "255a83fe727db673");
    }
}

/// A hasher for maps keyed by fingerprints (or ids built from them): the keys are already
/// well-mixed hashes, so one multiply stands in for SipHash.
#[derive(Default, Clone, Copy)]
pub struct PrehashedHasher(u64);

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(26) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// `HashMap` state for fingerprint-keyed maps.
pub type Prehashed = std::hash::BuildHasherDefault<PrehashedHasher>;
