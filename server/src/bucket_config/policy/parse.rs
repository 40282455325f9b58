//! The policy document: JSON checked field by field into statements, with S3's reasons for
//! rejecting a document (returned as MalformedPolicy).

use super::conditions::Condition;
pub use super::error::PolicyError;
use super::error::err;
use super::pattern::glob_str;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) statements: Vec<Statement>,
    /// Policy variables (`${aws:username}`) are only substituted in 2012-10-17 documents.
    pub(super) variables: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
pub(super) enum Principals {
    Everyone,
    /// Account ARNs, user ARNs, canonical ids or user names.
    Named(Vec<String>),
}

impl Principals {
    pub(super) fn is_everyone(&self) -> bool {
        matches!(self, Principals::Everyone)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub effect: Effect,
    pub principal: Option<Principals>,
    pub not_principal: Option<Principals>,
    /// Lower-cased action patterns; `not_action` inverts them.
    pub actions: Vec<String>,
    pub not_action: bool,
    pub resources: Vec<String>,
    pub not_resource: bool,
    pub conditions: Vec<Condition>,
}

const TOP_LEVEL: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_FIELDS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

/// A string or a non-empty list of strings.
pub(super) fn strings(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| PolicyError(format!("Policy has an invalid {field}"))))
            .collect(),
        _ => err(format!("Policy has an invalid {field}")),
    }
}

fn one_of<'a>(stmt: &'a Map<String, Value>, yes: &str, no: &str) -> Result<Option<(&'a Value, bool)>, PolicyError> {
    match (stmt.get(yes), stmt.get(no)) {
        (Some(_), Some(_)) => err(format!("Statement may not contain both {yes} and {no}")),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn principals(v: &Value) -> Result<Principals, PolicyError> {
    let invalid = || PolicyError("Invalid principal in policy".into());
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Everyone),
        Value::Object(map) if !map.is_empty() => {
            let mut named = Vec::new();
            for (kind, ids) in map {
                if kind != "AWS" && kind != "CanonicalUser" {
                    return Err(invalid());
                }
                for id in strings(ids, "principal").map_err(|_| invalid())? {
                    if id == "*" && kind == "AWS" {
                        return Ok(Principals::Everyone);
                    }
                    if !valid_principal(&id) {
                        return Err(invalid());
                    }
                    named.push(id);
                }
            }
            Ok(Principals::Named(named))
        }
        _ => Err(invalid()),
    }
}

/// `arn:aws:iam::<account>:root`, `arn:aws:iam::<account>:user/<name>`, or a bare id or name.
fn valid_principal(id: &str) -> bool {
    if id.is_empty() || id.contains(char::is_whitespace) {
        return false;
    }
    match id.strip_prefix("arn:") {
        None => true,
        Some(_) => {
            let Some(rest) = id.strip_prefix("arn:aws:iam::") else { return false };
            let Some((account, what)) = rest.split_once(':') else { return false };
            !account.is_empty()
                && (what == "root" || what.strip_prefix("user/").or_else(|| what.strip_prefix("role/")).is_some_and(|n| !n.is_empty()))
        }
    }
}

fn actions(v: &Value) -> Result<Vec<String>, PolicyError> {
    let list = strings(v, "action").map_err(|_| PolicyError("Policy has invalid action".into()))?;
    for a in &list {
        let ok = a == "*"
            || a.split_once(':').is_some_and(|(service, name)| {
                service.eq_ignore_ascii_case("s3") && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
            });
        if !ok {
            return err("Policy has invalid action");
        }
    }
    Ok(list.into_iter().map(|a| a.to_ascii_lowercase()).collect())
}

fn resources(v: &Value, bucket: Option<&str>) -> Result<Vec<String>, PolicyError> {
    let list = strings(v, "resource").map_err(|_| PolicyError("Policy has invalid resource".into()))?;
    for r in &list {
        if r == "*" {
            continue;
        }
        let Some(path) = r.strip_prefix("arn:aws:s3:::") else { return err("Policy has invalid resource") };
        let bucket_part = path.split('/').next().unwrap_or("");
        if bucket_part.is_empty() || bucket.is_some_and(|b| !glob_str(bucket_part, b, false)) {
            return err("Policy has invalid resource");
        }
    }
    Ok(list)
}

impl Policy {
    /// Parses and validates a document sent for `bucket` (its resources must lie in it).
    pub fn parse(doc: &str, bucket: &str) -> Result<Policy, PolicyError> {
        Policy::parse_for(doc, Some(bucket))
    }

    /// Parses a document that was validated when it was stored.
    pub fn parse_stored(doc: &str) -> Result<Policy, PolicyError> {
        Policy::parse_for(doc, None)
    }

    fn parse_for(doc: &str, bucket: Option<&str>) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(doc).map_err(|_| PolicyError("This policy contains invalid Json".into()))?;
        let Value::Object(top) = value else { return err("This policy contains invalid Json") };
        if let Some(k) = top.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
            return err(format!("Unknown field {k}"));
        }
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => return err("The policy must contain a valid version string"),
        };
        if top.get("Id").is_some_and(|id| !id.is_string()) {
            return err("Policy has an invalid Id");
        }
        let statements = match top.get("Statement") {
            None => return err("Missing required field Statement"),
            Some(Value::Array(items)) if items.is_empty() => return err("Could not parse the policy: Statement is empty!"),
            Some(Value::Array(items)) => items.iter().map(|s| statement(s, bucket)).collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![statement(s, bucket)?],
            Some(_) => return err("Policy has an invalid Statement"),
        };
        Ok(Policy { statements, variables })
    }
}

fn statement(v: &Value, bucket: Option<&str>) -> Result<Statement, PolicyError> {
    let Value::Object(stmt) = v else { return err("Policy has an invalid Statement") };
    if let Some(k) = stmt.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
        return err(format!("Unknown field {k}"));
    }
    if stmt.get("Sid").is_some_and(|s| !s.is_string()) {
        return err("Statement IDs (SID) must be strings");
    }
    let effect = match stmt.get("Effect") {
        None => return err("Missing required field Effect"),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return err(format!("Invalid effect: {}", other.as_str().unwrap_or(&other.to_string()))),
    };
    let (principal, not_principal) = match one_of(stmt, "Principal", "NotPrincipal")? {
        None => return err("Missing required field Principal"),
        Some((v, false)) => (Some(principals(v)?), None),
        Some((_, true)) if effect == Effect::Allow => return err("Invalid principal in policy: NotPrincipal may only be used with Deny"),
        Some((v, true)) => (None, Some(principals(v)?)),
    };
    let Some((action, not_action)) = one_of(stmt, "Action", "NotAction")? else {
        return err("Missing required field Action");
    };
    let Some((resource, not_resource)) = one_of(stmt, "Resource", "NotResource")? else {
        return err("Missing required field Resource");
    };
    let conditions = match stmt.get("Condition") {
        None => Vec::new(),
        Some(c) => Condition::parse_block(c)?,
    };
    Ok(Statement {
        effect,
        principal,
        not_principal,
        actions: actions(action)?,
        not_action,
        resources: resources(resource, bucket)?,
        not_resource,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(doc: &str) -> String {
        Policy::parse(doc, "b").unwrap_err().0
    }

    #[test]
    fn accepts_the_usual_shapes() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"1","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::abc:root","arn:aws:iam::abc:user/bob","abc"]},"Action":["s3:GetObject","s3:List*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}"#,
            "b",
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].actions, vec!["s3:getobject", "s3:list*"]);
        assert!(p.variables);
        let p = Policy::parse(
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"CanonicalUser":"abc"},"NotAction":"s3:*","NotResource":"arn:aws:s3:::b/*"}]}"#,
            "b",
        )
        .unwrap();
        assert!(!p.variables && p.statements[0].not_action && p.statements[0].not_resource);
    }

    #[test]
    fn rejects_with_s3_reasons() {
        assert_eq!(reason(r#"{"Version":"2012-10-17"}"#), "Missing required field Statement");
        assert_eq!(reason("{not json"), "This policy contains invalid Json");
        let stmt = |s: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#);
        assert_eq!(reason(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#)), "Policy has invalid resource");
        assert_eq!(reason(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::b/*"}"#)), "Policy has invalid action");
        assert_eq!(reason(&stmt(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::x"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}"#)), "Invalid principal in policy");
        assert_eq!(reason(&stmt(r#"{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::b"}"#)), "Missing required field Action");
        assert_eq!(reason(&stmt(r#"{"Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}"#)), "Missing required field Effect");
        assert_eq!(reason(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*"}"#)), "Missing required field Resource");
        assert!(reason(&stmt(r#"{"Effect":"Allow","NotPrincipal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}"#)).starts_with("Invalid principal"));
        assert!(reason(&stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"StringEqualz":{"s3:prefix":"x"}}}"#
        ))
        .starts_with("Invalid Condition type"));
    }
}
