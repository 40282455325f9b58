//! The registered notification targets (webhooks, AMQP exchanges): kept in the index so
//! `coffer admin notify` can change them while the server runs, each with its backlog bound
//! and its counters (queued, delivered, dropped). A target's secret (a webhook's token, an
//! AMQP URL with its password) is stored as the server sealed it.

use crate::error::{NotifyError, Result};
use crate::Store;
use serde::{Deserialize, Serialize};

/// The backlog bound of a target registered without one.
pub const DEFAULT_MAX_BACKLOG: u64 = 100_000;

/// Where a target's events go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TargetKind {
    /// HTTP POSTs of `{"Records": [...]}` to `url`.
    Webhook { url: String },
    /// Messages published to `exchange` of the broker at `url` (shown without its password;
    /// the full URL is the sealed secret), with `routing_key`, else the bucket's name.
    Amqp {
        url: String,
        exchange: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_key: Option<String>,
    },
}

impl TargetKind {
    /// The kind as the target's ARN ends: `webhook` or `amqp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetKind::Webhook { .. } => "webhook",
            TargetKind::Amqp { .. } => "amqp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotifyTarget {
    pub name: String,
    pub kind: TargetKind,
    /// Most events queued for it at once; more are dropped and counted.
    pub max_backlog: u64,
}

impl NotifyTarget {
    /// How notification configurations name it: `arn:coffer:sqs::NAME:webhook` (or `:amqp`).
    pub fn arn(&self) -> String {
        format!("arn:coffer:sqs::{}:{}", self.name, self.kind.as_str())
    }

    fn validate(&self) -> Result<()> {
        let ok_name = !self.name.is_empty() && self.name.len() <= 64 && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok_name {
            return Err(NotifyError::Invalid(format!("{:?}: a target's name is 1 to 64 letters, digits, '-', '_' or '.'", self.name)).into());
        }
        if self.max_backlog == 0 {
            return Err(NotifyError::Invalid("the backlog bound must be at least 1".into()).into());
        }
        Ok(())
    }
}

/// A target with its queue, as `coffer admin notify list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub target: NotifyTarget,
    pub queued: u64,
    pub delivered: u64,
    /// Events dropped because the backlog was full.
    pub dropped: u64,
    /// When the oldest queued event was written.
    pub oldest_ms: Option<i64>,
    /// Failed attempts at the first queued event, and the last error.
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The buckets, of `(bucket name, routes document)` pairs, whose routes name target `name`.
pub(crate) fn buckets_naming(docs: Vec<(String, String)>, name: &str) -> Result<Vec<String>> {
    let mut users = Vec::new();
    for (bucket, doc) in docs {
        let routes: Vec<super::NotifyRoute> = serde_json::from_str(&doc)?;
        if routes.iter().any(|r| r.target == name) {
            users.push(bucket);
        }
    }
    Ok(users)
}

impl Store {
    /// Registers a target, or changes the one of that name (its queue and counters stay).
    /// Returns whether it existed.
    pub async fn put_notify_target(&self, target: NotifyTarget, sealed_secret: Option<Vec<u8>>) -> Result<bool> {
        target.validate()?;
        self.index().put_notify_target(target, sealed_secret).await
    }

    /// Every registered target, by name, with its sealed secret.
    pub async fn notify_targets(&self) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>> {
        self.index().notify_targets().await
    }

    /// Every target with its counters and the state of its queue.
    pub async fn notify_status(&self) -> Result<Vec<TargetStatus>> {
        self.index().notify_status().await
    }

    /// Unregisters a target and drops its queue; refused while a bucket's notification
    /// configuration names it.
    pub async fn remove_notify_target(&self, name: &str) -> Result<()> {
        self.index().remove_notify_target(name).await
    }
}
