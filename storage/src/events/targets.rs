//! The registered notification targets (webhooks, AMQP exchanges): kept in the index so
//! `coffer admin notify` can change them while the server runs, each with its backlog bound
//! and its counters (queued, delivered, dropped). A target's secret (a webhook's token, an
//! AMQP URL with its password) is stored as the server sealed it.

use super::NOTIFY_ROUTES_KIND;
use crate::error::{NotifyError, Result};
use crate::{now_ms, Store};
use rusqlite::{params, OptionalExtension};
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

impl Store {
    /// Registers a target, or changes the one of that name (its queue and counters stay).
    /// Returns whether it existed.
    pub async fn put_notify_target(&self, target: NotifyTarget, sealed_secret: Option<Vec<u8>>) -> Result<bool> {
        target.validate()?;
        self.writer()
            .write(move |c| {
                let spec = serde_json::to_string(&target.kind)?;
                let changed = c
                    .prepare_cached("UPDATE notify_targets SET spec = ?2, secret = ?3, max_backlog = ?4 WHERE name = ?1")?
                    .execute(params![target.name, spec, sealed_secret, target.max_backlog as i64])?;
                if changed == 0 {
                    c.prepare_cached("INSERT INTO notify_targets (name, spec, secret, max_backlog, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                        .execute(params![target.name, spec, sealed_secret, target.max_backlog as i64, now_ms()])?;
                }
                Ok(changed > 0)
            })
            .await
    }

    /// Every registered target, by name, with its sealed secret.
    pub async fn notify_targets(&self) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>> {
        self.readers()
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT name, spec, max_backlog, secret FROM notify_targets ORDER BY name")?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?)))?;
                let mut out = Vec::new();
                for row in rows {
                    let (name, spec, max_backlog, secret) = row?;
                    out.push((NotifyTarget { name, kind: serde_json::from_str(&spec)?, max_backlog: max_backlog as u64 }, secret));
                }
                Ok(out)
            })
            .await
    }

    /// Every target with its counters and the state of its queue.
    pub async fn notify_status(&self) -> Result<Vec<TargetStatus>> {
        let targets = self.notify_targets().await?;
        self.readers()
            .read(move |c| {
                let mut out = Vec::with_capacity(targets.len());
                for (target, _) in targets {
                    let (queued, delivered, dropped): (i64, i64, i64) = c
                        .prepare_cached("SELECT queued, delivered, dropped FROM notify_targets WHERE name = ?1")?
                        .query_row([&target.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    let head: Option<(i64, u32, Option<String>)> = c
                        .prepare_cached("SELECT created_ms, attempts, last_error FROM notify_queue WHERE target = ?1 ORDER BY seq LIMIT 1")?
                        .query_row([&target.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()?;
                    let (oldest_ms, attempts, last_error) = match head {
                        Some((ms, attempts, error)) => (Some(ms), attempts, error),
                        None => (None, 0, None),
                    };
                    out.push(TargetStatus {
                        target,
                        queued: queued as u64,
                        delivered: delivered as u64,
                        dropped: dropped as u64,
                        oldest_ms,
                        attempts,
                        last_error,
                    });
                }
                Ok(out)
            })
            .await
    }

    /// Unregisters a target and drops its queue; refused while a bucket's notification
    /// configuration names it.
    pub async fn remove_notify_target(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer()
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT b.name, d.document FROM bucket_configs d JOIN buckets b ON b.id = d.bucket_id WHERE d.kind = ?1 ORDER BY b.name",
                )?;
                let docs = stmt.query_map([NOTIFY_ROUTES_KIND], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                let mut users = Vec::new();
                for doc in docs {
                    let (bucket, doc) = doc?;
                    let routes: Vec<super::NotifyRoute> = serde_json::from_str(&doc)?;
                    if routes.iter().any(|r| r.target == name) {
                        users.push(bucket);
                    }
                }
                if !users.is_empty() {
                    return Err(NotifyError::InUse { name, buckets: users.join(", ") }.into());
                }
                if c.prepare_cached("DELETE FROM notify_targets WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(NotifyError::Missing(name).into());
                }
                c.prepare_cached("DELETE FROM notify_queue WHERE target = ?1")?.execute([&name])?;
                Ok(())
            })
            .await
    }
}
