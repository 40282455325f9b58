//! Evaluation: which statements apply to a request (principal, action, resource, conditions),
//! with wildcards and policy variables; an explicit Deny wins over any Allow.

use super::parse::{Effect, Policy, Principals, Statement};
use super::pattern::{glob_str, Pattern};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Deny,
    Allow,
    NotMatched,
}

/// The signed-in caller a policy names: canonical id and user name.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// One request as a policy sees it. `context` answers condition keys (lower-cased names, a
/// tag key after `/` in its own case) with the request's values, None when absent.
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// None for anonymous callers.
    pub caller: Option<Caller<'a>>,
    pub context: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

impl Request<'_> {
    /// The request's values for a condition key: the caller's identity and the clock here,
    /// everything else from the context.
    pub(super) fn values(&self, key: &str) -> Option<Vec<String>> {
        match key {
            "aws:username" => self.caller.map(|c| vec![c.name.to_string()]),
            "aws:userid" => self.caller.map(|c| vec![c.id.to_string()]),
            "aws:principaltype" => Some(vec![if self.caller.is_some() { "User" } else { "Anonymous" }.to_string()]),
            "aws:currenttime" => {
                let now = time::OffsetDateTime::now_utc();
                now.format(&time::format_description::well_known::Rfc3339).ok().map(|s| vec![s])
            }
            "aws:epochtime" => Some(vec![time::OffsetDateTime::now_utc().unix_timestamp().to_string()]),
            _ => (self.context)(key),
        }
    }
}

impl Principals {
    fn includes(&self, caller: Option<Caller<'_>>) -> bool {
        match self {
            Principals::Everyone => true,
            Principals::Named(names) => caller.is_some_and(|c| names.iter().any(|n| names_caller(n, c))),
        }
    }
}

/// Whether a principal entry names the caller: an account (`...:root`) or user ARN, a
/// canonical id or a user name.
fn names_caller(entry: &str, caller: Caller<'_>) -> bool {
    if let Some(rest) = entry.strip_prefix("arn:aws:iam::") {
        let Some((account, what)) = rest.split_once(':') else { return false };
        return match what {
            "root" => account == caller.id || account == caller.name,
            other => {
                let user = other.strip_prefix("user/").map(|u| u.rsplit('/').next().unwrap_or(u));
                user.is_some_and(|u| u == caller.name) && (account.is_empty() || account == caller.id || account == caller.name)
            }
        };
    }
    entry == caller.id || entry == caller.name
}

impl Statement {
    fn applies(&self, req: &Request<'_>, variables: bool) -> bool {
        if let Some(p) = &self.principal {
            if !p.includes(req.caller) {
                return false;
            }
        }
        if let Some(p) = &self.not_principal {
            if p.includes(req.caller) {
                return false;
            }
        }
        let action = self.actions.iter().any(|a| glob_str(a, req.action, true));
        if action == self.not_action {
            return false;
        }
        let lookup = |name: &str| req.values(name).and_then(|v| v.into_iter().next());
        let expand = |s: &str| if variables { Pattern::with_variables(s, &lookup) } else { Some(Pattern::plain(s)) };
        let resource = self.resources.iter().any(|r| expand(r).is_some_and(|p| p.matches(req.resource, false)));
        if resource == self.not_resource {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(req.values(&c.key).as_deref(), &expand))
    }
}

impl Policy {
    /// An explicit Deny, else an Allow, else nothing said about the request.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if s.applies(req, self.variables) {
                match s.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotMatched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Caller = Caller { id: "a1b2", name: "alice" };
    const BOB: Caller = Caller { id: "c3d4", name: "bob" };

    fn decide(policy: &str, action: &str, resource: &str, caller: Option<Caller<'_>>, ctx: &[(&str, &str)]) -> Decision {
        let p = Policy::parse(policy, "b").unwrap();
        let context = |k: &str| ctx.iter().find(|(n, _)| *n == k).map(|(_, v)| vec![v.to_string()]);
        p.evaluate(&Request { action, resource, caller, context: &context })
    }

    #[test]
    fn principals_actions_resources() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::c3d4:root"]},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(BOB), &[]), Decision::Allow);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(ALICE), &[]), Decision::NotMatched);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", None, &[]), Decision::NotMatched);
        assert_eq!(decide(p, "s3:PutObject", "arn:aws:s3:::b/k", Some(BOB), &[]), Decision::NotMatched);
        assert_eq!(decide(p, "s3:ListBucket", "arn:aws:s3:::b", Some(BOB), &[]), Decision::NotMatched);
        let p = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::a1b2:user/alice"},"NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(ALICE), &[]), Decision::Allow);
        assert_eq!(decide(p, "s3:PutObject", "arn:aws:s3:::b/k", Some(ALICE), &[]), Decision::Deny);
        assert_eq!(decide(p, "s3:PutObject", "arn:aws:s3:::b/k", None, &[]), Decision::Allow);
        let p = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"CanonicalUser":"a1b2"},"Action":"s3:*","NotResource":"arn:aws:s3:::b/public/*"}]}"#;
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(BOB), &[]), Decision::Deny);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/public/k", Some(BOB), &[]), Decision::NotMatched);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(ALICE), &[]), Decision::NotMatched);
    }

    #[test]
    fn conditions_and_variables() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}]}"#;
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/home/bob/x", Some(BOB), &[]), Decision::Allow);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/home/bob/x", Some(ALICE), &[]), Decision::NotMatched);
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/home/bob/x", None, &[]), Decision::NotMatched);
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["${aws:username}/*","lit${*}"]}}}]}"#;
        assert_eq!(decide(p, "s3:ListBucket", "arn:aws:s3:::b", Some(BOB), &[("s3:prefix", "bob/a")]), Decision::Allow);
        assert_eq!(decide(p, "s3:ListBucket", "arn:aws:s3:::b", Some(BOB), &[("s3:prefix", "lit*")]), Decision::Allow);
        assert_eq!(decide(p, "s3:ListBucket", "arn:aws:s3:::b", Some(BOB), &[("s3:prefix", "litx")]), Decision::NotMatched);
        let p = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        let ok = [("aws:sourceip", "10.2.3.4"), ("aws:securetransport", "true")];
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", None, &ok), Decision::Allow);
        let far = [("aws:sourceip", "192.168.0.1"), ("aws:securetransport", "true")];
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", None, &far), Decision::NotMatched);
        let p = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}}]}"#;
        assert_eq!(decide(p, "s3:GetObject", "arn:aws:s3:::b/k", Some(ALICE), &[]), Decision::Deny);
    }
}
