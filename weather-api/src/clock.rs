//! The time, injected: the stores stamp new events and expire idempotency keys with a
//! [`Clock`], so tests can move time instead of waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;

    /// Now, in microseconds since the Unix epoch (0 for a time before it).
    fn now_micros(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    /// Now, in whole seconds since the Unix epoch (0 for a time before it).
    fn now_secs(&self) -> u64 {
        self.now_micros() / 1_000_000
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: SystemTime) -> Self {
        let clock = Self {
            micros: AtomicU64::new(0),
        };
        clock.set(start);
        clock
    }

    /// Shows `time` from now on.
    pub fn set(&self, time: SystemTime) {
        let micros = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.micros.store(micros, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(clock.now_secs(), 1_000);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now_micros(), 1_001_500_000);
        assert!(SystemClock.now_secs() > 1_700_000_000);
    }
}
