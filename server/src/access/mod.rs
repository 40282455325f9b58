//! Who may do what: authentication of the caller, ACLs, object ownership, Block Public Access,
//! MFA delete and POST policies. Bucket policies are parsed in `bucket_config::policy`.

pub mod acl;
pub mod authn;
pub mod mfa;
pub mod ownership;
pub mod post_policy;
pub mod public_access;
