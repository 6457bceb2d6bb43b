use std::time::Duration;

/// Exponential backoff with jitter: 500ms, ×1.5 per attempt, at most 60s, each ±50%; the
/// schedule Alertmanager's retry stage uses.
pub struct Backoff {
    next: Duration,
    seed: u64,
}

const INITIAL: Duration = Duration::from_millis(500);
const MAX: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    pub fn new() -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.subsec_nanos() as u64 | 1);
        Backoff {
            next: INITIAL,
            seed,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift: jitter only needs to spread retries, not be unpredictable.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed % 1000) as f64 / 1000.0; // [0, 1)
        let jittered = self.next.mul_f64(0.5 + unit);
        self.next = (self.next.mul_f64(1.5)).min(MAX);
        jittered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps_with_bounded_jitter() {
        let mut b = Backoff::new();
        let mut base = INITIAL;
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(
                d >= base.mul_f64(0.5) && d <= base.mul_f64(1.5),
                "{d:?} vs {base:?}"
            );
            base = base.mul_f64(1.5).min(MAX);
        }
        assert_eq!(base, MAX);
    }
}
