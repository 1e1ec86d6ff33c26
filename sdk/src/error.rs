//! Errors of the chain client.
use solana_client::client_error::ClientError;
use solana_instruction::error::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_transaction_error::TransactionError;

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Transport or RPC-level failure (connection, JSON-RPC error other than a preflight).
    #[error("rpc: {0}")]
    Rpc(#[from] Box<ClientError>),
    /// Preflight simulation refused the transaction; nothing was committed.
    #[error("preflight refused the transaction: {err}{}", code_suffix(.program_error))]
    Preflight {
        err: TransactionError,
        logs: Vec<String>,
        /// The program's custom error code, if an instruction failed with one.
        program_error: Option<u32>,
    },
    /// The transaction landed and failed (fees were charged).
    #[error("transaction {signature} failed: {err}{}", code_suffix(.program_error))]
    Failed {
        signature: Signature,
        err: TransactionError,
        program_error: Option<u32>,
    },
    /// Its blockhash expired before it landed; it can no longer land.
    #[error("transaction {signature} expired before landing")]
    Expired { signature: Signature },
    /// An account exists but does not decode as the asked type.
    #[error("account {address} does not decode: {reason}")]
    Decode { address: Pubkey, reason: String },
    /// A response had an unexpected shape.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl ChainError {
    /// The program's custom error code, when an instruction failed with one.
    pub fn program_error(&self) -> Option<u32> {
        match self {
            ChainError::Preflight { program_error, .. }
            | ChainError::Failed { program_error, .. } => *program_error,
            _ => None,
        }
    }
}

fn code_suffix(code: &Option<u32>) -> String {
    code.map(|c| format!(" (program error {c})"))
        .unwrap_or_default()
}

impl From<ClientError> for ChainError {
    fn from(e: ClientError) -> Self {
        Self::Rpc(Box::new(e))
    }
}

/// The custom error code of a failed instruction (`Custom(n)`), if any.
pub fn program_error_code(err: &TransactionError) -> Option<u32> {
    match err {
        TransactionError::InstructionError(_, InstructionError::Custom(code)) => Some(*code),
        _ => None,
    }
}
