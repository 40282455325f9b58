//! Webhook targets: each event is an HTTP POST of `{"Records": [record]}` (JSON), with
//! `Authorization: Bearer TOKEN` when the target has a token. Any 2xx answer means delivered.

use super::{record, Delivery, SEND_TIMEOUT};
use coffer_storage::QueuedEvent;
use zeroize::Zeroizing;

pub struct Webhook {
    client: reqwest::Client,
    url: String,
    token: Option<Zeroizing<String>>,
}

impl Webhook {
    pub fn new(url: String, token: Option<String>) -> Result<Webhook, String> {
        // reqwest uses the process's rustls provider: the same (ring) as the server's TLS.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(SEND_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Webhook { client, url, token: token.map(Zeroizing::new) })
    }

    pub async fn send(&mut self, events: &[QueuedEvent]) -> Delivery {
        for (i, event) in events.iter().enumerate() {
            if let Err(error) = self.post(event).await {
                return Delivery { delivered: i, error: Some(error) };
            }
        }
        Delivery { delivered: events.len(), error: None }
    }

    async fn post(&self, event: &QueuedEvent) -> Result<(), String> {
        let mut request = self.client.post(&self.url).header("content-type", "application/json").body(record::message(event));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.as_str());
        }
        let response = request.send().await.map_err(|e| format!("POST {}: {e}", self.url))?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("POST {}: HTTP {s}", self.url)),
        }
    }
}
