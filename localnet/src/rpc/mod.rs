//! JSON-RPC dispatch. The envelope (parse errors, batches, unknown methods) is
//! `jsonrpc-core`'s, the same crate Agave's RPC service uses; the request configs, responses
//! and error shapes are Agave's own types from `solana-rpc-client-api`.
use std::future::Future;

use jsonrpc_core::{Error, IoHandler, Params, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use solana_rpc_client_api::response::{Response, RpcResponseContext};

use crate::bank::{BankHandle, Chain};

pub mod accounts;
pub mod chain;
pub mod dev;
pub mod transactions;

pub type RpcResult<T> = Result<T, Error>;

/// What every handler gets: access to the bank thread.
#[derive(Clone)]
pub struct Ctx {
    pub bank: BankHandle,
}

impl Ctx {
    /// Runs `f` on the bank thread.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Chain) -> R + Send + 'static,
    ) -> RpcResult<R> {
        self.bank.call(f).await.map_err(|e| Error {
            code: jsonrpc_core::ErrorCode::InternalError,
            message: e.to_string(),
            data: None,
        })
    }
}

/// Positional parameters of a call.
pub struct Args(Vec<Value>);

impl Args {
    /// Required parameter `i`.
    pub fn req<T: DeserializeOwned>(&self, i: usize) -> RpcResult<T> {
        match self.0.get(i) {
            None | Some(Value::Null) => Err(Error::invalid_params(format!(
                "missing required parameter {i}"
            ))),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid_params(format!("Invalid params: {e}."))),
        }
    }

    /// Optional parameter `i` (absent or `null` give `None`).
    pub fn opt<T: DeserializeOwned>(&self, i: usize) -> RpcResult<Option<T>> {
        match self.0.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| Error::invalid_params(format!("Invalid params: {e}."))),
        }
    }
}

/// `{ context: { slot, apiVersion }, value }`.
pub fn with_context<T: Serialize>(slot: u64, value: T) -> Value {
    serde_json::to_value(Response {
        context: RpcResponseContext::new(slot),
        value,
    })
    .unwrap_or(Value::Null)
}

pub fn to_value<T: Serialize>(v: T) -> RpcResult<Value> {
    serde_json::to_value(v).map_err(|e| Error {
        code: jsonrpc_core::ErrorCode::InternalError,
        message: e.to_string(),
        data: None,
    })
}

pub fn internal(e: impl std::fmt::Display) -> Error {
    Error {
        code: jsonrpc_core::ErrorCode::InternalError,
        message: e.to_string(),
        data: None,
    }
}

/// Parses a base-58 public key the way Agave's RPC reports a bad one.
pub fn pubkey(s: &str) -> RpcResult<solana_pubkey::Pubkey> {
    s.parse()
        .map_err(|e| Error::invalid_params(format!("Invalid param: {e:?}")))
}

/// Registers one method.
pub fn register<F, Fut>(io: &mut IoHandler, name: &str, ctx: &Ctx, f: F)
where
    F: Fn(Ctx, Args) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = RpcResult<Value>> + Send + 'static,
{
    let ctx = ctx.clone();
    io.add_method(name, move |params: Params| {
        let ctx = ctx.clone();
        async move {
            let args = match params {
                Params::Array(v) => Args(v),
                Params::None => Args(Vec::new()),
                Params::Map(_) => {
                    return Err(Error::invalid_params("parameters must be an array"));
                }
            };
            f(ctx, args).await
        }
    });
}

/// All methods this chain serves.
pub fn handler(ctx: Ctx) -> IoHandler {
    let mut io = IoHandler::new();
    chain::register_all(&mut io, &ctx);
    accounts::register_all(&mut io, &ctx);
    transactions::register_all(&mut io, &ctx);
    dev::register_all(&mut io, &ctx);
    io
}
