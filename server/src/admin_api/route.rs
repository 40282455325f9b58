//! The admin API's table of contents: one `AdminOp` per operation, parsed from the method and
//! the path under `/_admin/` (each segment percent-decoded, so names may hold `/` as `%2F`).

use actix_web::http::Method;
use percent_encoding::percent_decode_str;

/// Where the admin API lives: `_` cannot start a bucket name, so no S3 path is shadowed.
pub const PREFIX: &str = "/_admin/";

/// One admin operation with its path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminOp {
    ListUsers,
    CreateUser,
    UserInfo(String),
    DeleteUser(String),
    SetUserEnabled(String, bool),
    CreateKey(String),
    RotateKey(String),
    SetKeyEnabled(String, bool),
    DeleteKey(String),
    ListKmsKeys,
    CreateKmsKey,
    RotateKmsKey(String),
    SetKmsKeyEnabled(String, bool),
    ListRemotes,
    AddRemote,
    RemoveRemote(String),
    ListTiers,
    AddTier,
    RemoveTier(String),
}

/// Why a path under `/_admin/` names no operation.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// The path names nothing.
    Unknown,
    /// The path names something, but not for this method; carries the ones it takes.
    Method(&'static str),
}

/// The operation `method` on `path` (which starts with [`PREFIX`]) asks for.
pub fn parse(method: &Method, path: &str) -> Result<AdminOp, NoRoute> {
    let rest = path.strip_prefix(PREFIX).ok_or(NoRoute::Unknown)?;
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).map_err(|_| NoRoute::Unknown))
        .collect::<Result<_, _>>()?;
    if segments.iter().any(String::is_empty) {
        return Err(NoRoute::Unknown);
    }
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (get, post, delete) = (method == Method::GET, method == Method::POST, method == Method::DELETE);
    let name = |i: usize| seg[i].to_string();
    use AdminOp::*;
    let op = match seg[..] {
        ["users"] if get => ListUsers,
        ["users"] if post => CreateUser,
        ["users"] => return Err(NoRoute::Method("GET, POST")),
        ["users", _] if get => UserInfo(name(1)),
        ["users", _] if delete => DeleteUser(name(1)),
        ["users", _] => return Err(NoRoute::Method("GET, DELETE")),
        ["users", _, "disable"] if post => SetUserEnabled(name(1), false),
        ["users", _, "enable"] if post => SetUserEnabled(name(1), true),
        ["users", _, "keys"] if post => CreateKey(name(1)),
        ["keys", _] if delete => DeleteKey(name(1)),
        ["keys", _] => return Err(NoRoute::Method("DELETE")),
        ["keys", _, "rotate"] if post => RotateKey(name(1)),
        ["keys", _, "disable"] if post => SetKeyEnabled(name(1), false),
        ["keys", _, "enable"] if post => SetKeyEnabled(name(1), true),
        ["kms"] if get => ListKmsKeys,
        ["kms"] if post => CreateKmsKey,
        ["kms"] => return Err(NoRoute::Method("GET, POST")),
        ["kms", _, "rotate"] if post => RotateKmsKey(name(1)),
        ["kms", _, "disable"] if post => SetKmsKeyEnabled(name(1), false),
        ["kms", _, "enable"] if post => SetKmsKeyEnabled(name(1), true),
        ["remotes"] if get => ListRemotes,
        ["remotes"] if post => AddRemote,
        ["remotes"] => return Err(NoRoute::Method("GET, POST")),
        ["remotes", _] if delete => RemoveRemote(name(1)),
        ["remotes", _] => return Err(NoRoute::Method("DELETE")),
        ["tiers"] if get => ListTiers,
        ["tiers"] if post => AddTier,
        ["tiers"] => return Err(NoRoute::Method("GET, POST")),
        ["tiers", _] if delete => RemoveTier(name(1)),
        ["tiers", _] => return Err(NoRoute::Method("DELETE")),
        [_, _, "disable" | "enable" | "keys" | "rotate"] => return Err(NoRoute::Method("POST")),
        _ => return Err(NoRoute::Unknown),
    };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_operations() {
        let p = |m: Method, path: &str| parse(&m, path);
        assert_eq!(p(Method::GET, "/_admin/users"), Ok(AdminOp::ListUsers));
        assert_eq!(p(Method::GET, "/_admin/users/"), Ok(AdminOp::ListUsers));
        assert_eq!(p(Method::POST, "/_admin/users"), Ok(AdminOp::CreateUser));
        assert_eq!(p(Method::DELETE, "/_admin/users/bob"), Ok(AdminOp::DeleteUser("bob".into())));
        assert_eq!(p(Method::POST, "/_admin/users/bob/disable"), Ok(AdminOp::SetUserEnabled("bob".into(), false)));
        assert_eq!(p(Method::POST, "/_admin/users/bob/keys"), Ok(AdminOp::CreateKey("bob".into())));
        assert_eq!(p(Method::POST, "/_admin/keys/CFK/rotate"), Ok(AdminOp::RotateKey("CFK".into())));
        assert_eq!(p(Method::POST, "/_admin/kms/team%2Fa/rotate"), Ok(AdminOp::RotateKmsKey("team/a".into())));
        assert_eq!(p(Method::DELETE, "/_admin/tiers/cold"), Ok(AdminOp::RemoveTier("cold".into())));
        assert_eq!(p(Method::PUT, "/_admin/users"), Err(NoRoute::Method("GET, POST")));
        assert_eq!(p(Method::GET, "/_admin/keys/CFK/rotate"), Err(NoRoute::Method("POST")));
        assert_eq!(p(Method::GET, "/_admin/nothing"), Err(NoRoute::Unknown));
        assert_eq!(p(Method::GET, "/_admin/users//keys"), Err(NoRoute::Unknown));
        assert_eq!(p(Method::GET, "/_admin/"), Err(NoRoute::Unknown));
    }
}
