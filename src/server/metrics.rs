//! The opt-in Prometheus listener: a minimal HTTP/1.0 responder on a
//! loopback address that answers `GET /metrics` with the counters.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::stats::Stats;
use crate::store::TokenStore;

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>, store: Arc<dyn TokenStore>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let stats = stats.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let mut head = [0u8; 1024];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read(&mut head),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let req = String::from_utf8_lossy(&head[..n]);
            let (status, body) = if req.starts_with("GET /metrics") {
                let counts = tokio::task::spawn_blocking(move || store.counts())
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or((0, 0));
                let extra = [
                    ("radotp_users", "gauge", counts.0 as u64),
                    ("radotp_tokens", "gauge", counts.1 as u64),
                ];
                ("200 OK", stats.to_prometheus(&extra))
            } else {
                ("404 Not Found", "try /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
        });
    }
}
