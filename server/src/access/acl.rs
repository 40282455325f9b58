//! Access control lists: canned ACLs and x-amz-grant-* headers turned into grants, the
//! AccessControlPolicy XML both ways, and the check of a caller against an owner and grants.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml::Owner;
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use coffer_storage::{Grant, Grantee, Permission, User};
use serde::{Deserialize, Serialize};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant { grantee, permission }
}

/// The grants a canned ACL adds to the owner's FULL_CONTROL. `bucket_owner` matters for the
/// bucket-owner-* ACLs of objects.
pub fn canned(name: &str, bucket_owner: &str) -> S3Result<Vec<Grant>> {
    use Permission::*;
    Ok(match name {
        "private" | "aws-exec-read" => vec![],
        "public-read" => vec![grant(Grantee::AllUsers, Read)],
        "public-read-write" => vec![grant(Grantee::AllUsers, Read), grant(Grantee::AllUsers, Write)],
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, Read)],
        "bucket-owner-read" => vec![grant(Grantee::User(bucket_owner.to_string()), Read)],
        "bucket-owner-full-control" => vec![grant(Grantee::User(bucket_owner.to_string()), FullControl)],
        "log-delivery-write" => vec![grant(Grantee::LogDelivery, Write), grant(Grantee::LogDelivery, ReadAcp)],
        other => {
            return Err(S3Error::invalid_argument(format!("Invalid canned ACL: {other}")).with("ArgumentName", "x-amz-acl"))
        }
    })
}

const GRANT_HEADERS: &[(&str, Permission)] = &[
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

fn unresolvable_email() -> S3Error {
    S3Error::custom(
        "UnresolvableGrantByEmailAddress",
        StatusCode::BAD_REQUEST,
        "The e-mail address you provided does not match any account on record.",
    )
}

fn group(uri: &str) -> S3Result<Grantee> {
    match uri {
        ALL_USERS => Ok(Grantee::AllUsers),
        AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
        LOG_DELIVERY => Ok(Grantee::LogDelivery),
        other => Err(S3Error::invalid_argument(format!("Invalid group uri: {other}"))),
    }
}

/// One `x-amz-grant-*` value: `id="..."`, `uri="..."` or `emailAddress="..."`, comma-separated.
fn grantees(value: &str) -> S3Result<Vec<Grantee>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (kind, v) = part.split_once('=').ok_or_else(|| S3Error::invalid_argument("Invalid grant header"))?;
            let v = v.trim().trim_matches('"');
            match kind.trim().to_ascii_lowercase().as_str() {
                "id" => Ok(Grantee::User(v.to_string())),
                "uri" => group(v),
                "emailaddress" => Err(unresolvable_email()),
                _ => Err(S3Error::invalid_argument("Invalid grant header")),
            }
        })
        .collect()
}

/// The ACL a request asks for with x-amz-acl or x-amz-grant-* headers, if any.
pub fn from_headers(headers: &HeaderMap, bucket_owner: &str) -> S3Result<Option<Vec<Grant>>> {
    let canned_acl = headers.get("x-amz-acl").and_then(|v| v.to_str().ok());
    let mut grants = Vec::new();
    let mut any_grant_header = false;
    for (name, permission) in GRANT_HEADERS {
        if let Some(v) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            any_grant_header = true;
            grants.extend(grantees(v)?.into_iter().map(|g| grant(g, *permission)));
        }
    }
    match (canned_acl, any_grant_header) {
        (Some(_), true) => Err(S3Error::invalid_request("Specifying both Canned ACLs and Header Grants is not allowed")),
        (Some(name), false) => Ok(Some(canned(name.trim(), bucket_owner)?)),
        (None, true) => Ok(Some(grants)),
        (None, false) => Ok(None),
    }
}

/// Whether `caller` (None: anonymous) has `wanted` on a resource of `owner` with `grants`.
pub fn allows(owner: &str, grants: &[Grant], caller: Option<&User>, wanted: Permission) -> bool {
    if caller.is_some_and(|u| u.id == owner) {
        return true;
    }
    grants.iter().any(|g| {
        let who = match &g.grantee {
            Grantee::AllUsers => true,
            Grantee::AuthenticatedUsers => caller.is_some(),
            Grantee::User(id) => caller.is_some_and(|u| &u.id == id),
            Grantee::LogDelivery => false,
        };
        who && (g.permission == wanted || g.permission == Permission::FullControl)
    })
}

// ---------------------------------------------------------------- XML

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    owner: Owner,
    access_control_list: GrantList,
}

#[derive(Serialize)]
struct GrantList {
    #[serde(rename = "Grant")]
    grants: Vec<GrantOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantOut {
    grantee: GranteeOut,
    permission: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GranteeOut {
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    kind: &'static str,
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(rename = "URI", skip_serializing_if = "Option::is_none")]
    uri: Option<&'static str>,
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "READ",
        Permission::Write => "WRITE",
        Permission::ReadAcp => "READ_ACP",
        Permission::WriteAcp => "WRITE_ACP",
        Permission::FullControl => "FULL_CONTROL",
    }
}

fn permission_from(name: &str) -> S3Result<Permission> {
    Ok(match name {
        "READ" => Permission::Read,
        "WRITE" => Permission::Write,
        "READ_ACP" => Permission::ReadAcp,
        "WRITE_ACP" => Permission::WriteAcp,
        "FULL_CONTROL" => Permission::FullControl,
        _ => return Err(S3Error::new(ErrorCode::MalformedXML)),
    })
}

/// The policy document: the other grants, then the owner's FULL_CONTROL (the order S3 lists
/// canned ACLs in). `display_name` names users by canonical id where known.
pub fn policy(owner: &User, grants: &[Grant], display_name: impl Fn(&str) -> Option<String>) -> AccessControlPolicy {
    let user = |id: &str, name: Option<String>| GranteeOut { xmlns_xsi: XSI, kind: "CanonicalUser", id: Some(id.to_string()), display_name: name, uri: None };
    let grp = |uri| GranteeOut { xmlns_xsi: XSI, kind: "Group", id: None, display_name: None, uri: Some(uri) };
    let mut out = Vec::with_capacity(grants.len() + 1);
    for g in grants {
        let grantee = match &g.grantee {
            Grantee::User(id) => user(id, display_name(id)),
            Grantee::AllUsers => grp(ALL_USERS),
            Grantee::AuthenticatedUsers => grp(AUTHENTICATED_USERS),
            Grantee::LogDelivery => grp(LOG_DELIVERY),
        };
        out.push(GrantOut { grantee, permission: permission_name(g.permission) });
    }
    out.push(GrantOut { grantee: user(&owner.id, Some(owner.name.clone())), permission: "FULL_CONTROL" });
    AccessControlPolicy { xmlns: crate::http::xml::S3_NAMESPACE, owner: Owner::of(owner), access_control_list: GrantList { grants: out } }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyIn {
    #[serde(default)]
    owner: Option<OwnerIn>,
    #[serde(default)]
    access_control_list: Option<GrantListIn>,
}

#[derive(Deserialize)]
struct OwnerIn {
    #[serde(rename = "ID", default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct GrantListIn {
    #[serde(default, rename = "Grant")]
    grants: Vec<GrantIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GrantIn {
    grantee: GranteeIn,
    permission: String,
}

#[derive(Deserialize)]
struct GranteeIn {
    #[serde(rename = "@type", alias = "@xsi:type", default)]
    kind: Option<String>,
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(rename = "URI", default)]
    uri: Option<String>,
    #[serde(rename = "EmailAddress", default)]
    email: Option<String>,
}

/// The grants of an AccessControlPolicy body, without the owner's own FULL_CONTROL.
pub fn parse_policy(body: &[u8], owner: &User) -> S3Result<Vec<Grant>> {
    let doc: PolicyIn = crate::http::xml::parse(body)?;
    if let Some(id) = doc.owner.and_then(|o| o.id) {
        if id != owner.id {
            return Err(S3Error::new(ErrorCode::AccessDenied));
        }
    }
    let mut grants = Vec::new();
    for g in doc.access_control_list.map(|l| l.grants).unwrap_or_default() {
        let permission = permission_from(g.permission.trim())?;
        let grantee = match (g.grantee.id, g.grantee.uri, g.grantee.email) {
            (Some(id), _, _) => Grantee::User(id.trim().to_string()),
            (None, Some(uri), _) => group(uri.trim())?,
            (None, None, Some(_)) => return Err(unresolvable_email()),
            _ => return Err(S3Error::new(ErrorCode::MalformedXML)),
        };
        let _ = g.grantee.kind;
        let grant = grant(grantee, permission);
        // The owner's FULL_CONTROL is implicit; keep everything else.
        if !(grant.grantee == Grantee::User(owner.id.clone()) && permission == Permission::FullControl) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User { id: id.into(), name: id.into() }
    }

    #[test]
    fn canned_acls_and_checks() {
        let public = canned("public-read", "owner").unwrap();
        assert!(allows("owner", &public, None, Permission::Read));
        assert!(!allows("owner", &public, None, Permission::Write));
        assert!(allows("owner", &[], Some(&user("owner")), Permission::WriteAcp));
        let auth = canned("authenticated-read", "owner").unwrap();
        assert!(!allows("owner", &auth, None, Permission::Read));
        assert!(allows("owner", &auth, Some(&user("bob")), Permission::Read));
        let full = canned("bucket-owner-full-control", "bob").unwrap();
        assert!(allows("alice", &full, Some(&user("bob")), Permission::WriteAcp));
        assert_eq!(canned("public-ready", "o").unwrap_err().code, "InvalidArgument");
    }

    #[test]
    fn grant_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            actix_web::http::header::HeaderName::from_static("x-amz-grant-read"),
            "id=\"bob\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"".parse().unwrap(),
        );
        let grants = from_headers(&h, "owner").unwrap().unwrap();
        assert_eq!(grants, vec![grant(Grantee::User("bob".into()), Permission::Read), grant(Grantee::AllUsers, Permission::Read)]);
        h.insert(actix_web::http::header::HeaderName::from_static("x-amz-acl"), "private".parse().unwrap());
        assert_eq!(from_headers(&h, "owner").unwrap_err().code, "InvalidRequest");
    }

    #[test]
    fn policy_documents() {
        let owner = user("owner");
        let body = br#"<AccessControlPolicy><Owner><ID>owner</ID></Owner><AccessControlList>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>owner</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>
            </AccessControlList></AccessControlPolicy>"#;
        assert_eq!(parse_policy(body, &owner).unwrap(), vec![grant(Grantee::AllUsers, Permission::Read)]);
        let doc = crate::http::xml::render("AccessControlPolicy", &policy(&owner, &[grant(Grantee::AllUsers, Permission::Read)], |_| None)).unwrap();
        assert!(doc.contains("<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"));
        assert!(doc.contains("<Permission>FULL_CONTROL</Permission>"));
    }
}
