//! Passwords: the plaintext as a secret type from the form field to the hash,
//! and Argon2id.
//!
//! What a password may be is decided by [`crate::password_policy`].

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroize;

/// Upper bound on what we will feed to Argon2: a megabyte "password" is a denial-of-service.
pub const MAX_PASSWORD_BYTES: usize = 1_024;

/// A plaintext password. `Debug` prints `<redacted>`; the plaintext is zeroised on drop.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(s: String) -> Self {
        Self(SecretString::from(s))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_oversized(&self) -> bool {
        self.expose().len() > MAX_PASSWORD_BYTES
    }
}

/// Argon2id cost. The default follows the OWASP Password Storage Cheat Sheet's first option:
/// m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl HashCost {
    /// Tests only: cheap enough to hash thousands of times, still real Argon2id.
    pub const TEST: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    /// A hash of a random password at the same cost: verified against for unknown accounts, so a
    /// login for an email that has no account costs the same time as one that has.
    dummy: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
}

impl PasswordHasher {
    pub fn new(cost: HashCost) -> Result<Self, HashError> {
        let mut h = Self { cost, dummy: String::new() };
        h.argon2()?;
        h.dummy = h.hash(&Password::new(crate::crypto::BearerToken::generate().expose().to_owned()));
        Ok(h)
    }

    pub fn cost(&self) -> HashCost {
        self.cost
    }

    fn argon2(&self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(self.cost.memory_kib, self.cost.iterations, self.cost.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// PHC string (`$argon2id$v=19$m=…`), with a fresh random salt.
    pub fn hash(&self, pw: &Password) -> String {
        let Ok(a) = self.argon2() else {
            return String::new();
        };
        let salt: [u8; argon2::RECOMMENDED_SALT_LEN] = rand::random();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        if with_thread_memory(&a, pw.expose().as_bytes(), &salt, &mut out).is_err() {
            return String::new();
        }
        let phc = (|| {
            Some(PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(a.params()).ok()?,
                salt: Some(Salt::new(&salt).ok()?),
                hash: Some(Output::new(&out).ok()?),
            })
        })();
        out.zeroize();
        phc.map(|h| h.to_string()).unwrap_or_default()
    }

    /// Verifies against the PHC string, using the parameters recorded in it (so a cost change
    /// does not lock out existing users). An absent hash verifies against the dummy and fails.
    pub fn verify(&self, pw: &Password, phc: Option<&str>) -> bool {
        let (phc, real) = match phc {
            Some(p) => (p, true),
            None => (self.dummy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(version), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm.as_str()),
            Version::try_from(parsed.version.unwrap_or(Version::V0x13.into())),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let a = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        let computed = with_thread_memory(&a, pw.expose().as_bytes(), salt, &mut out)
            .ok()
            .and_then(|()| Output::new(&out).ok());
        out.zeroize();
        // `Output` compares in constant time.
        let ok = computed.is_some_and(|c| &c == expected);
        ok && real
    }

    /// True when a stored hash was made at a different cost and should be re-hashed on next login.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let want =
            format!("m={},t={},p={}", self.cost.memory_kib, self.cost.iterations, self.cost.parallelism);
        !phc.contains(&want)
    }
}

thread_local! {
    /// Argon2's working memory, kept per hashing thread: allocating (and faulting in) 19 MiB for
    /// every hash costs more than the hash's own memory passes (BENCHMARKS.md, `argon2_reuse`).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 into `out` using this thread's kept memory, which is zeroed after use so no
/// password-derived state lingers between hashes.
fn with_thread_memory(a: &Argon2<'_>, pwd: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|blocks| {
        blocks.resize(a.params().block_count(), Block::new());
        let r = a.hash_password_into_with_memory(pwd, salt, out, &mut blocks[..]);
        blocks.iter_mut().for_each(Zeroize::zeroize);
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_the_dummy_never_does() {
        let h = PasswordHasher::new(HashCost::TEST).unwrap();
        let pw = Password::new("correct horse battery staple".into());
        let phc = h.hash(&pw);
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify(&pw, Some(&phc)));
        assert!(!h.verify(&Password::new("wrong horse battery staple".into()), Some(&phc)));
        assert!(!h.verify(&pw, None));
        assert!(!h.verify(&pw, Some("not a phc string")));
        assert!(!h.needs_rehash(&phc));
        assert!(PasswordHasher::new(HashCost::default()).unwrap().needs_rehash(&phc));
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_phc_path() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = PasswordHasher::new(HashCost::TEST).unwrap();
        let pw = Password::new("correct horse battery staple".into());
        // Ours verifies with the crate's verifier…
        let ours = h.hash(&pw);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(pw.expose().as_bytes(), &parsed).is_ok());
        // …and the crate's hash (other cost, argon2i too) verifies with ours, at its own parameters.
        for alg in [Algorithm::Argon2id, Algorithm::Argon2i] {
            let theirs = Argon2::new(alg, Version::V0x13, Params::new(128, 2, 1, None).unwrap())
                .hash_password(pw.expose().as_bytes())
                .unwrap()
                .to_string();
            assert!(h.verify(&pw, Some(&theirs)), "{theirs}");
            assert!(!h.verify(&Password::new("wrong".into()), Some(&theirs)));
        }
    }

    #[test]
    fn the_default_cost_is_owasp() {
        let h = PasswordHasher::new(HashCost::default()).unwrap();
        let phc = h.hash(&Password::new("correct horse battery staple".into()));
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    }

    #[test]
    fn debug_never_shows_the_plaintext() {
        let pw = Password::new("correct horse battery staple".into());
        assert!(!format!("{pw:?}").contains("horse"));
    }
}
