//! Delivering queued events: each event rendered as S3's record (`record`) and sent to its
//! target by the target's kind, an HTTP POST to a webhook (`webhook`) or a message published
//! to an AMQP exchange with publisher confirms (`amqp`). A send reports how many events, in
//! order, the target has for sure; the rest are sent again later.

mod amqp;
pub mod record;
mod webhook;

use coffer_storage::{NotifyTarget, QueuedEvent, TargetKind};
use std::time::Duration;

/// Longest a connection attempt or one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How far a send got: the first `delivered` events are with the target; `error` says why the
/// next one is not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub error: Option<String>,
}

/// A connection (or client) to one target, kept between sends.
pub enum Sender {
    Webhook(webhook::Webhook),
    /// Boxed: an open AMQP connection is large.
    Amqp(Box<amqp::Amqp>),
}

impl Sender {
    /// A sender for `target`; `secret` is its opened secret (a webhook's token, an AMQP URL).
    pub fn new(target: &NotifyTarget, secret: Option<String>) -> Result<Sender, String> {
        Ok(match &target.kind {
            TargetKind::Webhook { url } => Sender::Webhook(webhook::Webhook::new(url.clone(), secret)?),
            TargetKind::Amqp { url, exchange, routing_key } => {
                Sender::Amqp(Box::new(amqp::Amqp::new(secret.unwrap_or_else(|| url.clone()), exchange.clone(), routing_key.clone())))
            }
        })
    }

    /// Sends `events` in order, stopping at the first that fails.
    pub async fn send(&mut self, events: &[QueuedEvent]) -> Delivery {
        match self {
            Sender::Webhook(w) => w.send(events).await,
            Sender::Amqp(a) => a.send(events).await,
        }
    }
}
