//! Reason codes: every deny, hold and verdict says why, in words a user and support can read
//! (DESIGN principle 5). Codes are kebab-case and stable; they appear in problem+json `reasons`.

use serde::Serialize;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ReasonCode(pub &'static str);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Reason {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code: ReasonCode(code), detail: detail.into(), until: None }
    }

    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }
}
