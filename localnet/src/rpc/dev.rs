//! Development-only methods (no cluster serves these).
use jsonrpc_core::{IoHandler, Value};

use super::{internal, register, Args, Ctx, RpcResult};

/// Name of the method that moves the clock forward.
pub const ADVANCE_CLOCK: &str = "tesseraDev_advanceClock";

pub fn register_all(io: &mut IoHandler, ctx: &Ctx) {
    register(io, ADVANCE_CLOCK, ctx, advance_clock);
}

/// `tesseraDev_advanceClock(seconds)`: adds `seconds` worth of slots (400 ms each) and
/// returns `{ slot, unixTimestamp }` of the new working bank.
async fn advance_clock(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let seconds: u64 = args.req(0)?;
    if seconds > 10 * 365 * 24 * 3600 {
        return Err(jsonrpc_core::Error::invalid_params("seconds is too large"));
    }
    let (slot, unix_timestamp) = ctx
        .with(move |c| c.advance_clock(seconds))
        .await?
        .map_err(internal)?;
    Ok(serde_json::json!({ "slot": slot, "unixTimestamp": unix_timestamp }))
}
