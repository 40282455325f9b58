//! A bucket's website configuration: its XML form, validation, and the routing rules that turn
//! a key (or an error for it) into a redirect.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::key_encoding::url_path;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct WebsiteConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_all_requests_to: Option<RedirectAll>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_document: Option<IndexDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_document: Option<ErrorDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_rules: Option<RoutingRules>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RedirectAll {
    pub host_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDocument {
    pub suffix: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorDocument {
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RoutingRules {
    #[serde(rename = "RoutingRule", default)]
    pub rules: Vec<RoutingRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    pub redirect: Redirect,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix_equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_error_code_returned_equals: Option<u16>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key_prefix_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_redirect_code: Option<u16>,
}

fn invalid(message: &str) -> S3Error {
    S3Error::invalid_argument(message)
}

impl WebsiteConfiguration {
    pub fn validate(&self) -> S3Result<()> {
        if self.redirect_all_requests_to.is_some() {
            if self.index_document.is_some() || self.error_document.is_some() || self.routing_rules.is_some() {
                return Err(invalid("RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules."));
            }
            return Ok(());
        }
        let index = self.index_document.as_ref().ok_or_else(|| invalid("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"))?;
        if index.suffix.is_empty() || index.suffix.contains('/') {
            return Err(invalid("The IndexDocument Suffix is not well formed"));
        }
        for rule in self.routing_rules.iter().flat_map(|r| &r.rules) {
            let r = &rule.redirect;
            if r.replace_key_prefix_with.is_some() && r.replace_key_with.is_some() {
                return Err(invalid("You can only define ReplaceKeyPrefix or ReplaceKey but not both."));
            }
            if let Some(p) = &r.protocol {
                if p != "http" && p != "https" {
                    return Err(invalid("Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically."));
                }
            }
            if r.http_redirect_code.is_some_and(|c| !(300..400).contains(&c)) {
                return Err(invalid("The provided HTTP redirect code is not valid. It should be a string containing a number."));
            }
        }
        Ok(())
    }

    /// The first routing rule for `key` (before the object is looked up, `error` None; after an
    /// error, its status).
    pub fn route(&self, key: &str, error: Option<u16>) -> Option<&RoutingRule> {
        self.routing_rules.iter().flat_map(|r| &r.rules).find(|rule| {
            let cond = rule.condition.clone().unwrap_or_default();
            let prefix_ok = cond.key_prefix_equals.as_deref().is_none_or(|p| key.starts_with(p));
            let code_ok = match (cond.http_error_code_returned_equals, error) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
            };
            // A rule with only an error-code condition applies after the lookup, not before.
            let applies_now = error.is_some() || cond.http_error_code_returned_equals.is_none();
            prefix_ok && code_ok && applies_now
        })
    }
}

impl RoutingRule {
    /// Where this rule sends `key` (a full URL when it names a host, else a path), and with what
    /// status.
    pub fn target(&self, key: &str, request_host: &str, request_scheme: &str) -> (String, u16) {
        let r = &self.redirect;
        let new_key = match (&r.replace_key_with, &r.replace_key_prefix_with) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => {
                let prefix = self.condition.as_ref().and_then(|c| c.key_prefix_equals.as_deref()).unwrap_or("");
                format!("{p}{}", key.strip_prefix(prefix).unwrap_or(key))
            }
            (None, None) => key.to_string(),
        };
        let host = r.host_name.as_deref().unwrap_or(request_host);
        let scheme = r.protocol.as_deref().unwrap_or(request_scheme);
        (format!("{scheme}://{host}/{}", url_path(&new_key)), r.http_redirect_code.unwrap_or(301))
    }
}

pub fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(xml: &str) -> WebsiteConfiguration {
        crate::http::xml::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn routing_rules_by_prefix_and_by_error() {
        let c = config(
            "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument>\
             <RoutingRules><RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition>\
             <Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith></Redirect></RoutingRule>\
             <RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>\
             <Redirect><HostName>example.com</HostName><ReplaceKeyWith>missing.html</ReplaceKeyWith><HttpRedirectCode>302</HttpRedirectCode></Redirect></RoutingRule></RoutingRules>\
             </WebsiteConfiguration>",
        );
        c.validate().unwrap();
        let rule = c.route("docs/a.html", None).unwrap();
        assert_eq!(rule.target("docs/a.html", "site.test:8080", "http"), ("http://site.test:8080/documents/a.html".into(), 301));
        assert!(c.route("other.html", None).is_none());
        let rule = c.route("other.html", Some(404)).unwrap();
        assert_eq!(rule.target("other.html", "site.test", "http"), ("http://example.com/missing.html".into(), 302));
        let rule = c.route("docs/C# notes/café 100%.html", None).unwrap();
        assert_eq!(
            rule.target("docs/C# notes/café 100%.html", "site.test", "http").0,
            "http://site.test/documents/C%23%20notes/caf%C3%A9%20100%25.html"
        );
    }

    #[test]
    fn validation() {
        assert!(config("<WebsiteConfiguration><ErrorDocument><Key>e.html</Key></ErrorDocument></WebsiteConfiguration>").validate().is_err());
        assert!(config("<WebsiteConfiguration><IndexDocument><Suffix>a/b</Suffix></IndexDocument></WebsiteConfiguration>").validate().is_err());
        assert!(config("<WebsiteConfiguration><RedirectAllRequestsTo><HostName>x.test</HostName></RedirectAllRequestsTo></WebsiteConfiguration>").validate().is_ok());
    }
}
