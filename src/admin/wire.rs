//! The control socket's wire format and its client: one [`AdminRequest`]
//! per line as JSON; the answer is one JSON line, or for a listing of every
//! user or token a line per page and then the last line. The daemon's side
//! is `server::control`; [`request`] is what the admin CLI calls.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AdminError, AdminReply, AdminRequest, Listing};

/// Largest request line (an import of 100,000 tokens fits).
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// One answer on the wire.
pub type WireReply = Result<AdminReply, AdminError>;

/// One line on the wire. The last line of an answer is `Ok` or `Err` (the
/// JSON of a [`WireReply`]); a listing's pages come before it as `Part`s.
#[derive(Serialize, Deserialize)]
pub(crate) enum WireLine {
    Part(AdminReply),
    Ok(AdminReply),
    Err(AdminError),
}

pub(crate) fn wire_line(l: &WireLine) -> Vec<u8> {
    let mut out = serde_json::to_vec(l).unwrap_or_default();
    out.push(b'\n');
    out
}

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
    let mut pages = Listing::default();
    let mut answer = String::new();
    loop {
        answer.clear();
        if reader.read_line(&mut answer)? == 0 {
            return Err(std::io::Error::other(
                "the daemon closed the control socket before answering (see its log)",
            ));
        }
        let line: WireLine = serde_json::from_str(&answer)
            .map_err(|e| std::io::Error::other(format!("bad answer from the daemon: {e}")))?;
        match line {
            WireLine::Part(p) => pages.add(p),
            WireLine::Ok(r) => return Ok(Some(Ok(pages.finish(r)))),
            WireLine::Err(e) => return Ok(Some(Err(e))),
        }
    }
}
