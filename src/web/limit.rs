//! Per-client token buckets: `rate_limit` from the web config, and the always-on limit on
//! failed logins that slows a password guesser.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Clients remembered at most; past it, the clients whose buckets have refilled are forgotten
/// (they would start full anyway), so a scan from many addresses cannot grow the map for ever.
const MAX_CLIENTS: usize = 10_000;

pub struct ClientLimiter {
    burst: f64,
    per_token: Duration,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ClientLimiter {
    /// `burst` requests at once, then one per `per_token`.
    pub fn new(burst: u32, per_token: Duration) -> ClientLimiter {
        ClientLimiter {
            burst: f64::from(burst.max(1)),
            per_token: per_token.max(Duration::from_nanos(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned = now.duration_since(bucket.at).as_secs_f64() / self.per_token.as_secs_f64();
        (bucket.tokens + earned).min(self.burst)
    }

    /// Whether `client` has a token left, without taking one; if not, how long until it has.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let buckets = self.buckets.lock();
        match buckets.get(&client) {
            Some(bucket) if self.refilled(bucket, now) < 1.0 => {
                let missing = 1.0 - self.refilled(bucket, now);
                Err(self.per_token.mul_f64(missing))
            }
            _ => Ok(()),
        }
    }

    /// Takes a token from `client`, or says how long until one is there.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                let earned = now.duration_since(b.at).as_secs_f64() / self.per_token.as_secs_f64();
                b.tokens + earned < self.burst
            });
            if buckets.len() >= MAX_CLIENTS {
                // Every remembered client is still limited: forget the oldest half.
                let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                buckets.retain(|_, b| b.at > cut);
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(bucket, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(self.per_token.mul_f64(1.0 - tokens))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_one_per_interval() {
        let limiter = ClientLimiter::new(3, Duration::from_secs(10));
        let client: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(client, start).is_ok());
        }
        let wait = limiter.take(client, start).err();
        assert!(wait.is_some_and(|w| w > Duration::from_secs(9)), "{wait:?}");
        assert!(limiter.check(client, start).is_err());
        assert!(
            limiter.take(other, start).is_ok(),
            "another client is not limited"
        );
        assert!(limiter
            .take(client, start + Duration::from_secs(10))
            .is_ok());
        assert!(limiter
            .take(client, start + Duration::from_secs(10))
            .is_err());
    }

    #[test]
    fn many_clients_do_not_grow_the_map_past_its_bound() {
        let limiter = ClientLimiter::new(1, Duration::from_secs(3600));
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            let _ = limiter.take(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limiter.buckets.lock().len() <= MAX_CLIENTS);
    }
}
