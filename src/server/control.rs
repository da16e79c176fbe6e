//! The control socket: a local Unix socket (mode 0660) on which the daemon
//! takes one [`AdminRequest`] per line as JSON and answers one JSON line,
//! so that the admin CLI keeps working while sled is held by the daemon.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::admin::{Admin, AdminError, AdminReply, AdminRequest, ErrorKind};

/// Largest request line (an import of 100,000 tokens fits).
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// One answer on the wire.
pub type WireReply = Result<AdminReply, AdminError>;

/// Binds the socket: removes a stale socket file, sets mode 0660.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "control socket {} is in use: is another radotp running?",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves the control socket until the task is dropped.
pub async fn serve(listener: UnixListener, admin: Arc<Admin>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut reader = BufReader::new(r);
            let mut line = Vec::new();
            loop {
                line.clear();
                match (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut line)
                    .await
                {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let reply: WireReply = match serde_json::from_slice::<AdminRequest>(&line) {
                    Ok(req) => {
                        let op = req.name();
                        let admin = admin.clone();
                        let r = tokio::task::spawn_blocking(move || admin.execute(req))
                            .await
                            .unwrap_or_else(|e| {
                                Err(AdminError {
                                    kind: ErrorKind::Failed,
                                    message: format!("internal error: {e}"),
                                })
                            });
                        tracing::info!(op, ok = r.is_ok(), "admin request over control socket");
                        r
                    }
                    Err(e) => Err(AdminError {
                        kind: ErrorKind::Usage,
                        message: format!("bad control request: {e}"),
                    }),
                };
                let mut out = serde_json::to_vec(&reply).unwrap_or_default();
                out.push(b'\n');
                if w.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

use tokio::io::AsyncReadExt as _;

/// Client side: sends one request to a running daemon. `Ok(None)` when no
/// daemon listens on `path`.
pub fn request(path: &Path, req: &AdminRequest) -> std::io::Result<Option<WireReply>> {
    use std::io::{BufRead, Write};
    let stream = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut w = stream.try_clone()?;
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    let reply: WireReply = serde_json::from_str(&answer)
        .map_err(|e| std::io::Error::other(format!("bad answer from the daemon: {e}")))?;
    Ok(Some(reply))
}
