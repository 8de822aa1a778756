//! JSON-RPC 2.0 framing: one JSON object per line, in and out.
//!
//! vswitchd answers every line it receives: a request without an `id`
//! (a notification, in JSON-RPC terms) gets an answer with `"id": null`
//! too, so a client can never wait forever.

use serde::Serialize;
use serde_json::{json, Value};

/// Longest request line accepted, in bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// JSON-RPC error codes.
pub mod code {
    /// Not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params of the wrong shape or value.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The daemon failed to do what was asked (nothing changed).
    pub const FAILED: i64 = -32000;
    /// A named thing (port, entry) does not exist.
    pub const NOT_FOUND: i64 = -32001;
    /// The request conflicts with the current state.
    pub const CONFLICT: i64 = -32002;
    /// The caller is not allowed.
    pub const FORBIDDEN: i64 = -32003;
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC code.
    pub code: i64,
    /// What is wrong, for a human.
    pub message: String,
}

impl RpcError {
    /// An error with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// Invalid params.
    pub fn params(message: impl Into<String>) -> RpcError {
        RpcError::new(code::INVALID_PARAMS, message)
    }

    /// Not found.
    pub fn not_found(message: impl Into<String>) -> RpcError {
        RpcError::new(code::NOT_FOUND, message)
    }

    /// Conflict with current state.
    pub fn conflict(message: impl Into<String>) -> RpcError {
        RpcError::new(code::CONFLICT, message)
    }

    /// Operation failed.
    pub fn failed(message: impl Into<String>) -> RpcError {
        RpcError::new(code::FAILED, message)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RpcError {}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The id to echo (null when absent).
    pub id: Value,
    /// Method name.
    pub method: String,
    /// By-name params (an empty object when absent).
    pub params: Value,
}

/// Parses one request line; on failure returns the id (if one could be
/// read) and the error to answer with.
pub fn parse_request(line: &[u8]) -> Result<Request, (Value, RpcError)> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        (
            Value::Null,
            RpcError::new(code::PARSE_ERROR, format!("parse error: {e}")),
        )
    })?;
    let invalid = |id: Value, m: &str| {
        (
            id,
            RpcError::new(code::INVALID_REQUEST, format!("invalid request: {m}")),
        )
    };
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(invalid(
                Value::Null,
                "batch requests are not supported: send one object per line",
            ))
        }
        _ => return Err(invalid(Value::Null, "expected a JSON object")),
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
        return Err(invalid(
            Value::Null,
            "id must be a number, a string or null",
        ));
    }
    if obj.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(id, "\"jsonrpc\" must be \"2.0\""));
    }
    let method = match obj.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(invalid(id, "\"method\" must be a string")),
        None => return Err(invalid(id, "missing \"method\"")),
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "jsonrpc" | "id" | "method" | "params") {
            return Err(invalid(id, &format!("unknown member {k:?}")));
        }
    }
    let params = match obj.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(p)) => Value::Object(p.clone()),
        Some(_) => {
            return Err((
                id,
                RpcError::params("params must be an object of named parameters"),
            ))
        }
    };
    Ok(Request { id, method, params })
}

/// A success answer line (without the newline).
pub fn response<T: Serialize>(id: &Value, result: &T) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// An error answer line (without the newline).
pub fn error_response(id: &Value, e: &RpcError) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_say_why() {
        let r = parse_request(br#"{"jsonrpc":"2.0","id":7,"method":"status"}"#).unwrap();
        assert_eq!(
            (r.id, r.method.as_str(), r.params),
            (json!(7), "status", json!({}))
        );
        let bad = |l: &[u8]| parse_request(l).unwrap_err();
        assert_eq!(bad(b"{nope").1.code, code::PARSE_ERROR);
        assert_eq!(bad(b"[1]").1.code, code::INVALID_REQUEST);
        assert_eq!(bad(b"42").1.code, code::INVALID_REQUEST);
        let (id, e) = bad(br#"{"jsonrpc":"1.0","id":"a","method":"x"}"#);
        assert_eq!((id, e.code), (json!("a"), code::INVALID_REQUEST));
        assert!(bad(br#"{"jsonrpc":"2.0","id":1}"#)
            .1
            .message
            .contains("missing \"method\""));
        assert!(bad(br#"{"jsonrpc":"2.0","id":1,"method":5}"#)
            .1
            .message
            .contains("string"));
        assert_eq!(
            bad(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#)
                .1
                .code,
            code::INVALID_PARAMS
        );
        assert!(bad(br#"{"jsonrpc":"2.0","id":1,"method":"x","extra":1}"#)
            .1
            .message
            .contains("extra"));
        assert!(bad(br#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#)
            .1
            .message
            .contains("id must be"));
    }

    #[test]
    fn responses_are_one_line() {
        let ok = response(&json!(1), &json!({"a": [1, 2]}));
        assert!(!ok.contains('\n'));
        let v: Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(v["result"]["a"][1], 2);
        let err = error_response(&Value::Null, &RpcError::not_found("no port \"x\""));
        let v: Value = serde_json::from_str(&err).unwrap();
        assert_eq!(v["error"]["code"], code::NOT_FOUND);
        assert_eq!(v["id"], Value::Null);
    }
}
