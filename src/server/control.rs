//! The control socket's server side: a local Unix socket (mode 0660) on
//! which the daemon takes one [`AdminRequest`] per line and answers in the
//! wire format of [`crate::admin::wire`] (which also holds the client the
//! CLI uses), so that the admin CLI keeps working while the daemon holds
//! the store.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::admin::wire::{wire_line, WireLine, WireReply, MAX_LINE};
use crate::admin::{Admin, AdminError, AdminRequest, ErrorKind};

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

/// The admin service in force: a reload puts in a new one (new PIN rules,
/// OTP window, lockout), and each request takes the one in force when it
/// arrives.
pub type AdminSlot = Arc<std::sync::RwLock<Arc<Admin>>>;

/// Serves the control socket until the task is dropped.
pub async fn serve(listener: UnixListener, slot: AdminSlot) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let slot = slot.clone();
        // Who is asking, for the audit trail: the peer's uid.
        let uid = stream.peer_cred().ok().map(|c| c.uid());
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
                        let subject = req.subject().map(str::to_string);
                        let admin = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
                        // Pages of a listing go out as they come; the bounded
                        // channel holds the store's scan back while the client
                        // reads, so the daemon holds a few pages, not the list.
                        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
                        let task = tokio::task::spawn_blocking(move || {
                            admin.execute_stream(req, &mut |part| {
                                tx.blocking_send(wire_line(&WireLine::Part(part)))
                                    .map_err(|_| AdminError::failed("the client went away"))
                            })
                        });
                        while let Some(page) = rx.recv().await {
                            if w.write_all(&page).await.is_err() {
                                // Dropping `rx` stops the scan at its next page.
                                return;
                            }
                        }
                        let r = task.await.unwrap_or_else(|e| {
                            Err(AdminError {
                                kind: ErrorKind::Failed,
                                message: format!("internal error: {e}"),
                            })
                        });
                        tracing::info!(op, ok = r.is_ok(), "admin request over control socket");
                        if crate::audit::is_change(op) {
                            let mut m =
                                crate::audit::admin_fields(op, subject.as_deref(), r.is_ok());
                            if let Some(uid) = uid {
                                m.insert("by".into(), crate::audit::user_of(uid).into());
                                m.insert("uid".into(), uid.into());
                            }
                            m.insert("via".into(), "control socket".into());
                            crate::audit::record("admin", m);
                        }
                        r
                    }
                    Err(e) => Err(AdminError {
                        kind: ErrorKind::Usage,
                        message: format!("bad control request: {e}"),
                    }),
                };
                let last = match reply {
                    Ok(r) => WireLine::Ok(r),
                    Err(e) => WireLine::Err(e),
                };
                if w.write_all(&wire_line(&last)).await.is_err() {
                    return;
                }
            }
        });
    }
}
