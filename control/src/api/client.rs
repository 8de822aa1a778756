//! A blocking client for the control socket (what vswitchctl uses).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::rpc::RpcError;

/// A connection to vswitchd.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not reach the daemon.
    #[error("cannot reach vswitchd at {path}: {source} (is it running? is the path right? see --socket)")]
    Connect {
        /// Socket path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered with an error.
    #[error("{0}")]
    Rpc(RpcError),
    /// The answer was not a JSON-RPC response.
    #[error("malformed answer from vswitchd: {0}")]
    Protocol(String),
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let s = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            next_id: 1,
        })
    }

    /// Calls `method` with by-name `params`; returns the result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.writer, "{req}")?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Protocol(
                "connection closed without an answer".into(),
            ));
        }
        let v: Value =
            serde_json::from_str(&line).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(e) = v.get("error") {
            return Err(ClientError::Rpc(RpcError::new(
                e["code"].as_i64().unwrap_or(0),
                e["message"].as_str().unwrap_or("unknown error").to_string(),
            )));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| ClientError::Protocol("answer has neither result nor error".into()))
    }
}
