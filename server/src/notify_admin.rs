//! `coffer admin notify …`: register, list and remove the targets event notifications are
//! delivered to (webhooks, AMQP exchanges). Safe while the server runs: its notify worker
//! picks changes up within a second. A webhook's token, and an AMQP URL that carries a
//! password, are stored sealed under the master key, so `add` needs it, as `coffer serve` does.

use crate::admin::{runtime, KeyedDir};
use crate::keys::secrets;
use coffer_storage::{NotifyTarget, TargetKind};

/// Where `coffer admin notify add` sends a target's events.
pub enum Destination {
    Webhook { url: String, auth_token: Option<String> },
    Amqp { url: String, exchange: String, routing_key: Option<String> },
}

/// `url` without the password of its user info (`amqp://user:***@host/`), and whether it had one.
fn without_password(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), false) };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return (url.to_string(), false) };
    match rest[..at].split_once(':') {
        Some((user, _)) => (format!("{scheme}://{user}:***{}", &rest[at..]), true),
        None => (url.to_string(), false),
    }
}

/// The target to register and its secret in the clear (a token, or the AMQP URL with its
/// password), after checking the URL's scheme.
fn target(name: &str, destination: Destination, max_backlog: u64) -> Result<(NotifyTarget, Option<String>), String> {
    let (kind, secret) = match destination {
        Destination::Webhook { url, auth_token } => {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!("{url}: a webhook is an http:// or https:// URL"));
            }
            (TargetKind::Webhook { url }, auth_token)
        }
        Destination::Amqp { url, exchange, routing_key } => {
            if !url.starts_with("amqp://") && !url.starts_with("amqps://") {
                return Err(format!("{url}: an AMQP broker is an amqp:// or amqps:// URL"));
            }
            let (shown, has_password) = without_password(&url);
            (TargetKind::Amqp { url: shown, exchange, routing_key }, has_password.then_some(url))
        }
    };
    Ok((NotifyTarget { name: name.to_string(), kind, max_backlog }, secret))
}

/// Registers a target (or changes the one of that name, keeping its queue) and prints its ARN.
pub fn add(dir: KeyedDir<'_>, name: &str, destination: Destination, max_backlog: u64) -> Result<(), String> {
    let (target, secret) = target(name, destination, max_backlog)?;
    let secrets = dir.secrets()?;
    runtime()?.block_on(async {
        let store = secrets::open_store(&dir.site(), &secrets).await?;
        let sealed = secret.map(|s| secrets.seal_notify_secret(name, &s));
        let changed = store.put_notify_target(target.clone(), sealed).await.map_err(|e| e.to_string())?;
        println!("notification target {name} {}: {}", if changed { "changed" } else { "added" }, target.arn());
        Ok(())
    })
}

/// Prints every target with its queue: queued, delivered and dropped events, the oldest
/// queued, and the error of the last failed delivery.
pub fn list(site: &coffer_storage::Site, json: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(site)?;
        let now = coffer_storage::now_ms();
        let targets = store.notify_status().await.map_err(|e| e.to_string())?;
        crate::table::print(json, &targets, |targets| {
            let mut out = String::new();
            for s in targets {
                let destination = match &s.target.kind {
                    TargetKind::Webhook { url } => url.clone(),
                    TargetKind::Amqp { url, exchange, routing_key } => {
                        format!("{url} exchange {exchange} routing key {}", routing_key.as_deref().unwrap_or("(the bucket's name)"))
                    }
                };
                out += &format!("{}\t{}\t{destination}\n", s.target.name, s.target.arn());
                let oldest = s.oldest_ms.map(|ms| format!(", oldest queued {} s ago", (now - ms).max(0) / 1000)).unwrap_or_default();
                out += &format!("\tqueued {} of at most {}, delivered {}, dropped {}{oldest}\n", s.queued, s.target.max_backlog, s.delivered, s.dropped);
                if let Some(error) = &s.last_error {
                    out += &format!("\tlast error ({} attempts at the oldest event): {error}\n", s.attempts);
                }
            }
            out
        })
    })
}

pub fn remove(site: &coffer_storage::Site, name: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(site)?;
        store.remove_notify_target(name).await.map_err(|e| e.to_string())?;
        println!("notification target {name} removed");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_only_in_the_secret() {
        assert_eq!(without_password("amqp://app:s3cret@127.0.0.1:5672/%2f"), ("amqp://app:***@127.0.0.1:5672/%2f".into(), true));
        assert_eq!(without_password("amqp://app@127.0.0.1/"), ("amqp://app@127.0.0.1/".into(), false));
        assert_eq!(without_password("amqp://127.0.0.1/x@y"), ("amqp://127.0.0.1/x@y".into(), false));
        let amqp = Destination::Amqp { url: "amqp://u:p@127.0.0.1".into(), exchange: "x".into(), routing_key: None };
        let (t, secret) = target("mq", amqp, 10).unwrap();
        assert_eq!((t.arn().as_str(), secret.as_deref()), ("arn:coffer:sqs::mq:amqp", Some("amqp://u:p@127.0.0.1")));
        let hook = Destination::Webhook { url: "ftp://127.0.0.1".into(), auth_token: None };
        assert!(target("h", hook, 10).is_err());
    }
}
