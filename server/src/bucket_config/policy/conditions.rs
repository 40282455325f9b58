//! Condition blocks: the operators (String*, Numeric*, Date*, Bool, IpAddress, Null, Arn*), their
//! IfExists and ForAnyValue/ForAllValues forms, and how each compares request values.

use super::error::PolicyError;
use super::pattern::Pattern;
use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// Operator names with the positive operator they negate or are.
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Op::StringEqualsIgnoreCase, true),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("NumericEquals", Op::NumericEquals, false),
    ("NumericNotEquals", Op::NumericEquals, true),
    ("NumericLessThan", Op::NumericLessThan, false),
    ("NumericLessThanEquals", Op::NumericLessThanEquals, false),
    ("NumericGreaterThan", Op::NumericGreaterThan, false),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals, false),
    ("DateEquals", Op::DateEquals, false),
    ("DateNotEquals", Op::DateEquals, true),
    ("DateLessThan", Op::DateLessThan, false),
    ("DateLessThanEquals", Op::DateLessThanEquals, false),
    ("DateGreaterThan", Op::DateGreaterThan, false),
    ("DateGreaterThanEquals", Op::DateGreaterThanEquals, false),
    ("Bool", Op::Bool, false),
    ("BinaryEquals", Op::BinaryEquals, false),
    ("IpAddress", Op::IpAddress, false),
    ("NotIpAddress", Op::IpAddress, true),
    ("ArnEquals", Op::ArnLike, false),
    ("ArnNotEquals", Op::ArnLike, true),
    ("ArnLike", Op::ArnLike, false),
    ("ArnNotLike", Op::ArnLike, true),
    ("Null", Op::Null, false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub op: Op,
    pub negated: bool,
    pub set: SetOp,
    pub if_exists: bool,
    /// Lower-cased condition key (`aws:sourceip`, `s3:existingobjecttag/<k>` keeps the tag's case).
    pub key: String,
    pub values: Vec<String>,
}

fn invalid_type(name: &str) -> PolicyError {
    PolicyError(format!("Invalid Condition type : {name}"))
}

/// Lower-cases the key's name, keeping the case of a tag key after `/`.
fn normalize_key(key: &str) -> String {
    match key.split_once('/') {
        Some((name, rest)) => format!("{}/{rest}", name.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

fn known_key(key: &str) -> bool {
    key.split_once(':').is_some_and(|(svc, name)| (svc == "aws" || svc == "s3") && !name.is_empty())
}

impl Condition {
    /// Parses a statement's `Condition` object: operator -> { key -> value or values }.
    pub(super) fn parse_block(v: &Value) -> Result<Vec<Condition>, PolicyError> {
        let Value::Object(ops) = v else { return Err(PolicyError("Policy has an invalid condition".into())) };
        let mut out = Vec::new();
        for (name, keys) in ops {
            let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
                (SetOp::ForAnyValue, r)
            } else if let Some(r) = name.strip_prefix("ForAllValues:") {
                (SetOp::ForAllValues, r)
            } else {
                (SetOp::Single, name.as_str())
            };
            let (if_exists, base) = match rest.strip_suffix("IfExists") {
                Some(b) => (true, b),
                None => (false, rest),
            };
            let &(_, op, negated) = OPERATORS.iter().find(|(n, _, _)| *n == base).ok_or_else(|| invalid_type(name))?;
            if op == Op::Null && (if_exists || set != SetOp::Single) {
                return Err(invalid_type(name));
            }
            let Value::Object(keys) = keys else { return Err(PolicyError("Policy has an invalid condition".into())) };
            for (key, values) in keys {
                if !known_key(key) {
                    return Err(PolicyError(format!("Policy has an invalid condition key: {key}")));
                }
                let values = match values {
                    Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                    other => scalar(other).map(|s| vec![s]),
                }
                .filter(|v| !v.is_empty())
                .ok_or_else(|| PolicyError(format!("Policy has an invalid condition value for {key}")))?;
                check_values(op, &values, key)?;
                out.push(Condition { op, negated, set, if_exists, key: normalize_key(key), values });
            }
        }
        Ok(out)
    }

    /// Whether the condition narrows who it applies to (used to decide if a policy is public).
    pub(super) fn restricts(&self) -> bool {
        !self.negated && self.op != Op::Null && !(self.op == Op::IpAddress && self.values.iter().any(|v| v.ends_with("/0")))
    }

    /// Evaluates the condition against the request's values for its key (None: absent).
    /// `expand` turns a policy value into a pattern after policy variable substitution.
    pub(super) fn holds(&self, actual: Option<&[String]>, expand: &dyn Fn(&str) -> Option<Pattern>) -> bool {
        let actual = actual.filter(|a| !a.is_empty());
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return actual.is_none() == want_absent;
        }
        let Some(actual) = actual else {
            return self.if_exists || self.negated || self.set == SetOp::ForAllValues;
        };
        let patterns: Vec<Option<Pattern>> = self.values.iter().map(|v| expand(v)).collect();
        let one = |a: &str| {
            let any = self.values.iter().zip(&patterns).any(|(v, p)| self.compare(a, v, p.as_ref()));
            any != self.negated
        };
        match self.set {
            SetOp::Single if self.negated => actual.iter().all(|a| one(a)),
            SetOp::Single | SetOp::ForAnyValue => actual.iter().any(|a| one(a)),
            SetOp::ForAllValues => actual.iter().all(|a| one(a)),
        }
    }

    fn compare(&self, actual: &str, value: &str, pattern: Option<&Pattern>) -> bool {
        use std::cmp::Ordering::*;
        match self.op {
            Op::StringEquals => pattern.is_some_and(|p| p.literal_eq(actual, false)),
            Op::StringEqualsIgnoreCase => pattern.is_some_and(|p| p.literal_eq(actual, true)),
            Op::StringLike | Op::ArnLike => pattern.is_some_and(|p| p.matches(actual, false)),
            Op::BinaryEquals => actual == value,
            Op::Bool => actual.eq_ignore_ascii_case(value),
            Op::NumericEquals => num_cmp(actual, value) == Some(Equal),
            Op::NumericLessThan => num_cmp(actual, value) == Some(Less),
            Op::NumericLessThanEquals => matches!(num_cmp(actual, value), Some(Less | Equal)),
            Op::NumericGreaterThan => num_cmp(actual, value) == Some(Greater),
            Op::NumericGreaterThanEquals => matches!(num_cmp(actual, value), Some(Greater | Equal)),
            Op::DateEquals => date_cmp(actual, value) == Some(Equal),
            Op::DateLessThan => date_cmp(actual, value) == Some(Less),
            Op::DateLessThanEquals => matches!(date_cmp(actual, value), Some(Less | Equal)),
            Op::DateGreaterThan => date_cmp(actual, value) == Some(Greater),
            Op::DateGreaterThanEquals => matches!(date_cmp(actual, value), Some(Greater | Equal)),
            Op::IpAddress => ip_in(actual, value),
            Op::Null => false,
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn check_values(op: Op, values: &[String], key: &str) -> Result<(), PolicyError> {
    let bad = |v: &str| PolicyError(format!("Policy has an invalid condition value for {key}: {v}"));
    for v in values {
        let ok = match op {
            Op::NumericEquals | Op::NumericLessThan | Op::NumericLessThanEquals | Op::NumericGreaterThan | Op::NumericGreaterThanEquals => {
                v.trim().parse::<f64>().is_ok()
            }
            Op::DateEquals | Op::DateLessThan | Op::DateLessThanEquals | Op::DateGreaterThan | Op::DateGreaterThanEquals => {
                epoch_seconds(v).is_some()
            }
            Op::IpAddress => cidr(v).is_some(),
            Op::Bool | Op::Null => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            _ => true,
        };
        if !ok {
            return Err(bad(v));
        }
    }
    Ok(())
}

fn num_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    a.trim().parse::<f64>().ok()?.partial_cmp(&b.trim().parse::<f64>().ok()?)
}

/// An ISO 8601 date or date-time, or seconds since the epoch, as seconds since the epoch.
pub(super) fn epoch_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339).or_else(|_| time::OffsetDateTime::parse(s, &Iso8601::DEFAULT)) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    if let Ok(t) = time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos() as f64 / 1e9);
    }
    let d = time::Date::parse(s, &Iso8601::DEFAULT).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp() as f64)
}

fn date_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    epoch_seconds(a)?.partial_cmp(&epoch_seconds(b)?)
}

/// A CIDR block (or a bare address) as (network, prefix length).
fn cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn ip_in(actual: &str, block: &str) -> bool {
    let (Ok(ip), Some((net, len))) = (actual.parse::<IpAddr>(), cidr(block)) else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let bits = |a: IpAddr| -> u128 {
        match a {
            IpAddr::V4(v) => u32::from(v) as u128,
            IpAddr::V6(v) => u128::from(v),
        }
    };
    let width = if net.is_ipv4() { 32 } else { 128 };
    if ip.is_ipv4() != net.is_ipv4() {
        return false;
    }
    if len == 0 {
        return true;
    }
    let shift = width - len as u32;
    (bits(ip) >> shift) == (bits(net) >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(json: &str) -> Condition {
        Condition::parse_block(&serde_json::from_str(json).unwrap()).unwrap().remove(0)
    }

    fn holds(c: &Condition, actual: Option<&[&str]>) -> bool {
        let actual: Option<Vec<String>> = actual.map(|a| a.iter().map(|s| s.to_string()).collect());
        c.holds(actual.as_deref(), &|v| Some(Pattern::plain(v)))
    }

    #[test]
    fn string_operators() {
        let c = cond(r#"{"StringEquals":{"s3:x-amz-acl":["public-read","private"]}}"#);
        assert!(holds(&c, Some(&["private"])) && !holds(&c, Some(&["Private"])) && !holds(&c, None));
        let c = cond(r#"{"StringNotEquals":{"s3:x-amz-acl":"private"}}"#);
        assert!(holds(&c, Some(&["public-read"])) && !holds(&c, Some(&["private"])) && holds(&c, None));
        let c = cond(r#"{"StringEqualsIgnoreCase":{"aws:UserAgent":"Boto"}}"#);
        assert!(holds(&c, Some(&["boto"])));
        let c = cond(r#"{"StringLike":{"s3:prefix":"home/*"}}"#);
        assert!(holds(&c, Some(&["home/a"])) && !holds(&c, Some(&["other"])));
        let c = cond(r#"{"StringLikeIfExists":{"s3:prefix":"home/*"}}"#);
        assert!(holds(&c, None) && !holds(&c, Some(&["x"])));
    }

    #[test]
    fn numeric_date_bool_null() {
        let c = cond(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#);
        assert!(holds(&c, Some(&["10"])) && !holds(&c, Some(&["11"])));
        let c = cond(r#"{"NumericGreaterThan":{"s3:max-keys":5}}"#);
        assert!(holds(&c, Some(&["6"])) && !holds(&c, Some(&["5"])));
        let c = cond(r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#);
        assert!(holds(&c, Some(&["2029-12-31T23:59:59Z"])) && !holds(&c, Some(&["2030-01-02T00:00:00Z"])));
        let c = cond(r#"{"DateGreaterThan":{"aws:EpochTime":"2020-01-01"}}"#);
        assert!(holds(&c, Some(&["1700000000"])));
        let c = cond(r#"{"Bool":{"aws:SecureTransport":"false"}}"#);
        assert!(holds(&c, Some(&["false"])) && !holds(&c, Some(&["true"])));
        let c = cond(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#);
        assert!(holds(&c, None) && !holds(&c, Some(&["AES256"])));
    }

    #[test]
    fn ip_addresses() {
        let c = cond(r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}"#);
        assert!(holds(&c, Some(&["10.1.2.3"])) && holds(&c, Some(&["2001:db8::1"])) && !holds(&c, Some(&["11.0.0.1"])));
        let c = cond(r#"{"NotIpAddress":{"aws:SourceIp":"127.0.0.1/32"}}"#);
        assert!(!holds(&c, Some(&["127.0.0.1"])) && holds(&c, Some(&["127.0.0.2"])));
        assert!(Condition::parse_block(&serde_json::from_str(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/99"}}"#).unwrap()).is_err());
    }

    #[test]
    fn set_operators() {
        let c = cond(r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTag/k":["a","b"]}}"#);
        assert!(holds(&c, Some(&["a", "b"])) && !holds(&c, Some(&["a", "c"])) && holds(&c, None));
        let c = cond(r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTag/k":["a"]}}"#);
        assert!(holds(&c, Some(&["c", "a"])) && !holds(&c, Some(&["c"])) && !holds(&c, None));
        assert_eq!(c.key, "s3:requestobjecttag/k");
    }
}
