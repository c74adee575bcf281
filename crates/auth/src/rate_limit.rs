use crate::AuthError;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

/// Per-client-IP limits, configurable so an operator behind a carrier-grade NAT (many
/// nurses behind one address) or a test harness can raise them.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub otp_sends_per_ip_per_hour: u32,
    pub otp_verifies_per_ip_per_minute: u32,
    pub login_attempts_per_ip_per_minute: u32,
    pub refreshes_per_ip_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            otp_sends_per_ip_per_hour: 30,
            otp_verifies_per_ip_per_minute: 30,
            login_attempts_per_ip_per_minute: 20,
            refreshes_per_ip_per_minute: 120,
        }
    }
}

/// In-memory GCRA limiters keyed by client IP (the `governor` crate). Each node keeps its
/// own counts; the per-phone SMS limit, which must hold across nodes, lives in PostgreSQL.
pub struct IpRateLimits {
    otp_sends: DefaultKeyedRateLimiter<IpAddr>,
    otp_verifies: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    refreshes: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(per: Duration, count: u32) -> Quota {
    let count = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
    // `per / count` is the replenish interval; the burst is the whole allowance.
    Quota::with_period(per / count.get())
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(count)
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), AuthError> {
    limiter.check_key(&ip).map_err(|not_until| {
        // The limiter's own clock: a new one reads the CPU's features first (tens of
        // microseconds in a virtual machine), and refusals come in floods.
        let wait = not_until.wait_time_from(limiter.clock().now());
        AuthError::RateLimited {
            retry_after: wait.max(Duration::from_secs(1)),
        }
    })
}

impl IpRateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            otp_sends: RateLimiter::keyed(quota(
                Duration::from_secs(3600),
                settings.otp_sends_per_ip_per_hour,
            )),
            otp_verifies: RateLimiter::keyed(quota(
                minute,
                settings.otp_verifies_per_ip_per_minute,
            )),
            logins: RateLimiter::keyed(quota(minute, settings.login_attempts_per_ip_per_minute)),
            refreshes: RateLimiter::keyed(quota(minute, settings.refreshes_per_ip_per_minute)),
        }
    }

    pub fn otp_send(&self, ip: IpAddr) -> Result<(), AuthError> {
        check(&self.otp_sends, ip)
    }

    pub fn otp_verify(&self, ip: IpAddr) -> Result<(), AuthError> {
        check(&self.otp_verifies, ip)
    }

    pub fn login(&self, ip: IpAddr) -> Result<(), AuthError> {
        check(&self.logins, ip)
    }

    pub fn refresh(&self, ip: IpAddr) -> Result<(), AuthError> {
        check(&self.refreshes, ip)
    }

    /// Forgets addresses whose allowance is full again, so memory follows active clients.
    pub fn prune(&self) {
        for limiter in [
            &self.otp_sends,
            &self.otp_verifies,
            &self.logins,
            &self.refreshes,
        ] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_configured_burst_then_refuses_with_a_wait() {
        let limits = IpRateLimits::new(&RateLimitSettings {
            login_attempts_per_ip_per_minute: 3,
            ..RateLimitSettings::default()
        });
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limits.login(ip).is_ok());
        }
        match limits.login(ip) {
            Err(AuthError::RateLimited { retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1) && retry_after <= minute_plus())
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limits.login(other).is_ok(), "limits are per address");
    }

    fn minute_plus() -> Duration {
        Duration::from_secs(61)
    }
}
