//! The pure state machine: how fresh a token is and what a caller does about it.
//! No clock, network or locks here; the cache feeds it instants and flags.

use std::time::{Duration, Instant};

/// The points in a token's life, fixed when it is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// When the token request was sent (a conservative start of life).
    pub issued_at: Instant,
    /// From here a background refresh starts; callers still get this token.
    pub refresh_at: Instant,
    /// From here the token is no longer handed out (`expires_at` minus the hard margin).
    pub usable_until: Instant,
    /// `issued_at + expires_in`.
    pub expires_at: Instant,
}

impl TokenTimes {
    /// Computes the refresh point (`refresh_ratio` of the lifetime) and the
    /// hard limit (`hard_margin` before expiry).
    ///
    /// The margin is capped at half the lifetime, so a short-lived token is
    /// still usable for a while instead of being refetched on every call. The
    /// refresh point is moved earlier where needed so that, with a ratio under
    /// 1, at least `(1 - refresh_ratio) * lifetime / 2` of refresh-ahead window
    /// stays before the hard limit: with the defaults (0.8 and 30 s) a token of
    /// 150 s or less would otherwise have none, and callers would wait for
    /// each new token. Long tokens keep exactly `refresh_ratio` and
    /// `hard_margin`; with ratio 1 (no refresh ahead) the refresh point is the
    /// hard limit.
    pub fn new(
        issued_at: Instant,
        lifetime: Duration,
        refresh_ratio: f64,
        hard_margin: Duration,
    ) -> Self {
        let ratio = refresh_ratio.clamp(0.0, 1.0);
        let margin = hard_margin.min(lifetime / 2);
        let usable = lifetime - margin;
        let window = lifetime.mul_f64((1.0 - ratio) / 2.0);
        let refresh = lifetime.mul_f64(ratio).min(usable.saturating_sub(window));
        Self {
            issued_at,
            refresh_at: issued_at + refresh,
            usable_until: issued_at + usable,
            expires_at: issued_at + lifetime,
        }
    }

    /// Where `now` falls in the token's life.
    #[inline]
    pub fn freshness(&self, now: Instant) -> Freshness {
        if now < self.refresh_at {
            Freshness::Fresh
        } else if now < self.usable_until {
            Freshness::RefreshDue
        } else {
            Freshness::Expired
        }
    }
}

/// A token's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Before the refresh point: serve it.
    Fresh,
    /// Between the refresh point and the hard limit: serve it, refresh in the background.
    RefreshDue,
    /// Past the hard limit: do not serve it.
    Expired,
}

/// What a caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Return the cached token.
    Serve,
    /// Return the cached token and start one background refresh.
    ServeAndRefresh,
    /// No usable token: join the token request in flight, or start one, and wait.
    Wait,
}

/// Decides for one caller.
///
/// * `token`: the cached token's times, if any;
/// * `request_in_flight`: a token request for this scope set is running;
/// * `refresh_blocked_until`: after a failed background refresh, no new one
///   starts before this instant (backoff, at least the endpoint's `Retry-After`).
#[inline]
pub fn decide(
    token: Option<&TokenTimes>,
    now: Instant,
    request_in_flight: bool,
    refresh_blocked_until: Option<Instant>,
) -> Action {
    match token.map(|t| t.freshness(now)) {
        Some(Freshness::Fresh) => Action::Serve,
        Some(Freshness::RefreshDue) => {
            let blocked = refresh_blocked_until.is_some_and(|until| now < until);
            if request_in_flight || blocked {
                Action::Serve
            } else {
                Action::ServeAndRefresh
            }
        }
        Some(Freshness::Expired) | None => Action::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const MARGIN: Duration = Duration::from_secs(30);

    fn times() -> (Instant, TokenTimes) {
        let t0 = Instant::now();
        (t0, TokenTimes::new(t0, HOUR, 0.8, MARGIN))
    }

    #[test]
    fn default_points_are_80_percent_and_30_seconds_before_expiry() {
        let (t0, t) = times();
        assert_eq!(t.refresh_at - t0, Duration::from_secs(2880));
        assert_eq!(t.usable_until - t0, Duration::from_secs(3570));
        assert_eq!(t.expires_at - t0, HOUR);
    }

    #[test]
    fn freshness_follows_the_points() {
        let (t0, t) = times();
        assert_eq!(t.freshness(t0), Freshness::Fresh);
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(2879)),
            Freshness::Fresh
        );
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(2880)),
            Freshness::RefreshDue
        );
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(3569)),
            Freshness::RefreshDue
        );
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(3570)),
            Freshness::Expired
        );
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(7200)),
            Freshness::Expired
        );
    }

    #[test]
    fn short_lifetime_caps_the_margin_at_half_and_keeps_a_refresh_window() {
        let t0 = Instant::now();
        let t = TokenTimes::new(t0, Duration::from_secs(20), 0.8, MARGIN);
        assert_eq!(t.usable_until - t0, Duration::from_secs(10));
        assert_eq!(t.refresh_at - t0, Duration::from_secs(8));
        assert_eq!(t.freshness(t0 + Duration::from_secs(7)), Freshness::Fresh);
        assert_eq!(
            t.freshness(t0 + Duration::from_secs(9)),
            Freshness::RefreshDue
        );
    }

    #[test]
    fn every_lifetime_has_a_refresh_window_with_the_defaults() {
        let t0 = Instant::now();
        for secs in [2, 10, 60, 120, 150, 151, 200, 300, 3600, 86_400] {
            let lifetime = Duration::from_secs(secs);
            let t = TokenTimes::new(t0, lifetime, 0.8, MARGIN);
            let window = t.usable_until - t.refresh_at;
            assert!(window >= lifetime / 10, "{secs} s: window {window:?}");
            assert_eq!(
                t.expires_at - t.usable_until,
                MARGIN.min(lifetime / 2),
                "{secs} s"
            );
        }
        // 150 s: the refresh point moves from 120 s to 105 s, the margin stays.
        let t = TokenTimes::new(t0, Duration::from_secs(150), 0.8, MARGIN);
        assert_eq!(t.refresh_at - t0, Duration::from_secs(105));
        assert_eq!(t.usable_until - t0, Duration::from_secs(120));
        // From 300 s on nothing moves (every Cognito access token).
        let t = TokenTimes::new(t0, Duration::from_secs(300), 0.8, MARGIN);
        assert_eq!(t.refresh_at - t0, Duration::from_secs(240));
    }

    #[test]
    fn a_ratio_near_one_keeps_the_configured_margin() {
        let t0 = Instant::now();
        for ratio in [0.99, 0.9999] {
            let t = TokenTimes::new(t0, HOUR, ratio, MARGIN);
            assert_eq!(t.usable_until - t0, HOUR - MARGIN, "{ratio}");
            assert!(t.refresh_at < t.usable_until, "{ratio}");
        }
    }

    #[test]
    fn ratio_one_means_no_background_window() {
        let t0 = Instant::now();
        let t = TokenTimes::new(t0, HOUR, 1.0, MARGIN);
        assert_eq!(t.refresh_at, t.usable_until);
        assert_eq!(t.usable_until - t0, HOUR - MARGIN);
    }

    #[test]
    fn fresh_token_served() {
        let (t0, t) = times();
        assert_eq!(decide(Some(&t), t0, false, None), Action::Serve);
        assert_eq!(decide(Some(&t), t0, true, None), Action::Serve);
    }

    #[test]
    fn refresh_due_serves_and_starts_one_refresh() {
        let (t0, t) = times();
        let now = t0 + Duration::from_secs(3000);
        assert_eq!(decide(Some(&t), now, false, None), Action::ServeAndRefresh);
    }

    #[test]
    fn refresh_due_with_request_in_flight_only_serves() {
        let (t0, t) = times();
        let now = t0 + Duration::from_secs(3000);
        assert_eq!(decide(Some(&t), now, true, None), Action::Serve);
    }

    #[test]
    fn refresh_due_in_backoff_only_serves_until_backoff_ends() {
        let (t0, t) = times();
        let now = t0 + Duration::from_secs(3000);
        let until = now + Duration::from_secs(5);
        assert_eq!(decide(Some(&t), now, false, Some(until)), Action::Serve);
        assert_eq!(
            decide(Some(&t), until, false, Some(until)),
            Action::ServeAndRefresh
        );
    }

    #[test]
    fn expired_or_missing_token_waits_even_in_backoff() {
        let (t0, t) = times();
        let now = t0 + Duration::from_secs(3570);
        let later = Some(now + HOUR);
        assert_eq!(decide(Some(&t), now, false, later), Action::Wait);
        assert_eq!(decide(Some(&t), now, true, None), Action::Wait);
        assert_eq!(decide(None, now, false, None), Action::Wait);
    }
}
