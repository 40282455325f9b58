//! The ways a request or an admin may name a keyring key (its id, `NAME`, `alias/NAME`, or an
//! ARN of either form), and which names a new key may take.

/// A parsed key reference.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyRef<'a> {
    /// A key id, lower-cased.
    Id(String),
    /// A key's name (its alias without `alias/`).
    Name(&'a str),
}

const ALIAS_PREFIX: &str = "alias/";
const MAX_NAME_LEN: usize = 250;

/// Parses `reference`. ARNs must be KMS ARNs of `region` (any account); other ARNs, and
/// anything else that cannot name a key, are `None`.
pub(super) fn parse<'a>(reference: &'a str, region: &str) -> Option<KeyRef<'a>> {
    if let Some(rest) = reference.strip_prefix("arn:") {
        // arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, arn_region, account, resource] = parts[..] else { return None };
        if !partition.starts_with("aws") || service != "kms" || arn_region != region || account.is_empty() {
            return None;
        }
        if let Some(id) = resource.strip_prefix("key/") {
            return as_id(id).map(KeyRef::Id);
        }
        return resource.strip_prefix(ALIAS_PREFIX).filter(|n| !n.is_empty()).map(KeyRef::Name);
    }
    if let Some(name) = reference.strip_prefix(ALIAS_PREFIX) {
        return (!name.is_empty()).then_some(KeyRef::Name(name));
    }
    match as_id(reference) {
        Some(id) => Some(KeyRef::Id(id)),
        None => (!reference.is_empty()).then_some(KeyRef::Name(reference)),
    }
}

/// The canonical (lower-case, hyphenated) form of a key id, if `text` is one.
fn as_id(text: &str) -> Option<String> {
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok().map(|u| u.hyphenated().to_string())
}

/// The name a new key gets from what the admin typed (`alias/` is optional), if it is a valid
/// one: 1 to 250 of `A-Z a-z 0-9 / _ -`, and not something that reads as a key id.
pub(super) fn new_name(input: &str) -> Result<&str, String> {
    let name = input.strip_prefix(ALIAS_PREFIX).unwrap_or(input);
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("a key name is 1 to {MAX_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-')) {
        return Err(format!("invalid key name '{name}': use letters, digits, '/', '_' and '-'"));
    }
    if name.starts_with(ALIAS_PREFIX) || as_id(name).is_some() {
        return Err(format!("invalid key name '{name}': it would read as another kind of key reference"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn every_reference_form_parses() {
        let r = "us-east-1";
        assert_eq!(parse(ID, r), Some(KeyRef::Id(ID.to_string())));
        assert_eq!(parse(&ID.to_uppercase(), r), Some(KeyRef::Id(ID.to_string())));
        assert_eq!(parse("testkey-1", r), Some(KeyRef::Name("testkey-1")));
        assert_eq!(parse("alias/testkey-1", r), Some(KeyRef::Name("testkey-1")));
        assert_eq!(parse(&format!("arn:aws:kms:us-east-1:111122223333:key/{ID}"), r), Some(KeyRef::Id(ID.to_string())));
        assert_eq!(parse("arn:aws:kms:us-east-1:111122223333:alias/testkey-1", r), Some(KeyRef::Name("testkey-1")));
        assert_eq!(parse("arn:aws:kms:us-east-1:111122223333:alias/a/b", r), Some(KeyRef::Name("a/b")));
    }

    #[test]
    fn foreign_or_malformed_references_name_nothing() {
        let r = "us-east-1";
        assert_eq!(parse(&format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}"), r), None);
        assert_eq!(parse(&format!("arn:aws:s3:us-east-1:111122223333:key/{ID}"), r), None);
        assert_eq!(parse("arn:aws:kms:us-east-1:111122223333:key/not-a-uuid", r), None);
        assert_eq!(parse("arn:aws:kms:us-east-1:111122223333:alias/", r), None);
        assert_eq!(parse("arn:aws:kms:us-east-1", r), None);
        assert_eq!(parse("alias/", r), None);
        assert_eq!(parse("", r), None);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(new_name("k1"), Ok("k1"));
        assert_eq!(new_name("alias/team/k_1-x"), Ok("team/k_1-x"));
        assert!(new_name("").is_err());
        assert!(new_name("alias/").is_err());
        assert!(new_name("has space").is_err());
        assert!(new_name("arn:aws:kms:x").is_err());
        assert!(new_name(ID).is_err());
        assert!(new_name("alias/alias/x").is_err());
        assert!(new_name(&"a".repeat(251)).is_err());
    }
}
