//! Recovering after a freeze (DESIGN "Recover"): support unfroze the account, every credential
//! from before the freeze is dead, and the holder must set a new password (through the link sent
//! to the address support verified) and enrol a new second factor before anything else. Until
//! then a session of the account may do only what finishing that takes.

/// `(method, path)` a session of a recovering account may call: see the account, confirm it is
/// the holder (password plus emailed code), enrol an authenticator app, sign out.
pub const SESSION_MAY: [(&str, &str); 6] = [
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/auth/step-up"),
    ("POST", "/api/v1/auth/step-up/email"),
    ("POST", "/api/v1/security/totp"),
    ("POST", "/api/v1/security/totp/confirm"),
    ("POST", "/api/v1/auth/logout"),
];

pub fn session_may(method: &str, path: &str) -> bool {
    SESSION_MAY.iter().any(|(m, p)| *m == method && *p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovering_session_may_only_finish_the_reset() {
        assert!(session_may("POST", "/api/v1/security/totp/confirm"));
        assert!(session_may("GET", "/api/v1/me"));
        for (m, p) in [
            ("POST", "/api/v1/withdrawals"),
            ("POST", "/api/v1/transfers"),
            ("POST", "/api/v1/api-keys"),
            ("DELETE", "/api/v1/security/totp"),
            ("POST", "/api/v1/security/email"),
            ("GET", "/api/v1/me/"),
        ] {
            assert!(!session_may(m, p), "{m} {p}");
        }
    }
}
