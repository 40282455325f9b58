//! Bucket policies: the IAM policy language parsed from JSON (`parse`), matched against one
//! request (`eval`, with its condition operators in `conditions`), and whether a policy is public.

mod conditions;
mod error;
mod eval;
mod parse;
mod pattern;
pub mod cache;

pub use eval::{Caller, Decision, Request};
pub use parse::Policy;
pub use cache::Cache;

/// The condition keys whose presence (with an allowing operator) keeps a statement that names
/// everyone from counting as public: they pin the caller to a network, account or source.
const RESTRICTING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:userid",
    "aws:username",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

impl Policy {
    /// Whether a condition reads the tags of the existing object (so the caller loads it).
    pub fn reads_object_tags(&self) -> bool {
        self.statements.iter().flat_map(|s| &s.conditions).any(|c| c.key.starts_with("s3:existingobjecttag/"))
    }

    /// Whether the policy grants access to everyone: an Allow for the `*` principal that no
    /// restricting condition (a source IP range, account or network) narrows.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == parse::Effect::Allow
                && s.principal.as_ref().is_some_and(parse::Principals::is_everyone)
                && !s.conditions.iter().any(|c| c.restricts() && RESTRICTING_KEYS.contains(&c.key.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(stmt: &str) -> Policy {
        Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{stmt}]}}"#), "b").unwrap()
    }

    #[test]
    fn public_unless_narrowed() {
        assert!(policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#).is_public());
        assert!(policy(r#"{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:*","Resource":"arn:aws:s3:::b"}"#).is_public());
        assert!(!policy(r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}"#).is_public());
        assert!(!policy(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::x:root"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}"#).is_public());
        assert!(!policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#
        )
        .is_public());
        assert!(policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"p/*"}}}"#
        )
        .is_public());
    }
}
