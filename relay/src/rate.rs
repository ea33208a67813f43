//! Per-connection rate limits: messages per second and bytes per second.

use tokio::time::Instant;

/// Which limit refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Messages,
    Bytes,
}

/// Two token buckets, one counting frames and one counting their bytes. A
/// frame passes only if both have room, and then takes from both, so a
/// refusal costs the sender nothing.
pub struct RateLimit {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl RateLimit {
    pub fn new(messages_per_second: u32, bytes_per_second: u64, now: Instant) -> Self {
        RateLimit {
            messages: TokenBucket::new(f64::from(messages_per_second), now),
            bytes: TokenBucket::new(bytes_per_second as f64, now),
        }
    }

    pub fn admit(&mut self, bytes: usize, now: Instant) -> Result<(), Limited> {
        self.messages.refill(now);
        self.bytes.refill(now);
        if self.messages.tokens < 1.0 {
            return Err(Limited::Messages);
        }
        if self.bytes.tokens < bytes as f64 {
            return Err(Limited::Bytes);
        }
        self.messages.tokens -= 1.0;
        self.bytes.tokens -= bytes as f64;
        Ok(())
    }
}

/// Refills at `rate` per second up to `2 * rate`: a sustained rate with bursts of twice that.
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> Self {
        let rate = rate.max(1.0);
        TokenBucket { rate, capacity: 2.0 * rate, tokens: 2.0 * rate, refilled_at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn messages_pass_in_bursts_then_at_the_rate() {
        let start = Instant::now();
        let mut limit = RateLimit::new(5, 1_000_000, start);
        assert_eq!((0..10).filter(|_| limit.admit(1, start).is_ok()).count(), 10);
        assert_eq!(limit.admit(1, start), Err(Limited::Messages));
        let later = start + Duration::from_millis(200);
        assert_eq!(limit.admit(1, later), Ok(()));
        assert_eq!(limit.admit(1, later), Err(Limited::Messages));
    }

    #[test]
    fn bytes_pass_in_bursts_then_at_the_rate_and_refusals_cost_nothing() {
        let start = Instant::now();
        let mut limit = RateLimit::new(1000, 1000, start);
        assert_eq!(limit.admit(1500, start), Ok(()));
        assert_eq!(limit.admit(600, start), Err(Limited::Bytes));
        assert_eq!(limit.admit(500, start), Ok(()), "the refused 600 bytes took nothing");
        assert_eq!(limit.admit(1, start), Err(Limited::Bytes));
        assert_eq!(limit.admit(100, start + Duration::from_millis(100)), Ok(()));
    }
}
