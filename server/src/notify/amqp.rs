//! AMQP targets (RabbitMQ): each event is a persistent message `{"Records": [record]}`
//! published to the target's exchange with its routing key (else the bucket's name), on a
//! channel in confirm mode: an event counts as delivered once the broker acknowledged it.
//! The connection is kept between sends and made again after any error.

use super::{record, Delivery, SEND_TIMEOUT};
use coffer_storage::QueuedEvent;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use zeroize::Zeroizing;

/// AMQP's delivery mode for messages the broker keeps on disk.
const PERSISTENT: u8 = 2;

pub struct Amqp {
    url: Zeroizing<String>,
    exchange: String,
    routing_key: Option<String>,
    open: Option<(Connection, Channel)>,
}

impl Amqp {
    pub fn new(url: String, exchange: String, routing_key: Option<String>) -> Amqp {
        Amqp { url: Zeroizing::new(url), exchange, routing_key, open: None }
    }

    pub async fn send(&mut self, events: &[QueuedEvent]) -> Delivery {
        let delivery = match self.channel().await {
            Ok(channel) => publish(&channel, &self.exchange, self.routing_key.as_deref(), events).await,
            Err(error) => Delivery { delivered: 0, error: Some(error) },
        };
        if delivery.error.is_some() {
            if let Some((connection, _)) = self.open.take() {
                let _ = connection.close(0, "reconnecting".into()).await;
            }
        }
        delivery
    }

    /// The open channel, connecting first if there is none.
    async fn channel(&mut self) -> Result<Channel, String> {
        if let Some((connection, channel)) = &self.open {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let connect = async {
            let connection = Connection::connect(&self.url, ConnectionProperties::default()).await?;
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            Ok::<_, lapin::Error>((connection, channel))
        };
        let (connection, channel) = tokio::time::timeout(SEND_TIMEOUT, connect)
            .await
            .map_err(|_| "connecting to the AMQP broker timed out".to_string())?
            .map_err(|e| format!("connecting to the AMQP broker: {e}"))?;
        self.open = Some((connection, channel.clone()));
        Ok(channel)
    }
}

/// Publishes every event, then waits for the broker's confirms, in order.
async fn publish(channel: &Channel, exchange: &str, routing_key: Option<&str>, events: &[QueuedEvent]) -> Delivery {
    let mut confirms = Vec::with_capacity(events.len());
    let mut error = None;
    for event in events {
        let key = routing_key.unwrap_or(&event.facts.bucket);
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_message_id(event.facts.id.clone().into());
        let body = record::message(event);
        match channel.basic_publish(exchange.into(), key.into(), BasicPublishOptions::default(), &body, properties).await {
            Ok(confirm) => confirms.push(confirm),
            Err(e) => {
                error = Some(format!("publishing to exchange {exchange:?}: {e}"));
                break;
            }
        }
    }
    let mut delivered = 0;
    for confirm in confirms {
        match tokio::time::timeout(SEND_TIMEOUT, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => delivered += 1,
            Ok(Ok(other)) => {
                error = Some(format!("the broker did not take the message to exchange {exchange:?}: {other:?}"));
                break;
            }
            Ok(Err(e)) => {
                error = Some(format!("publishing to exchange {exchange:?}: {e}"));
                break;
            }
            Err(_) => {
                error = Some("the broker did not confirm in time".into());
                break;
            }
        }
    }
    Delivery { delivered, error }
}
