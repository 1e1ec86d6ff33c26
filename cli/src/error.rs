//! What a command can fail with. Every variant prints as one line for the user.
use tessera_sdk::client::ChainError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input from the user: flags, files, amounts. Nothing was sent.
    #[error("{0}")]
    Input(String),
    /// The action does not fit the job's or node's current state. Nothing was sent.
    #[error("{0}")]
    State(String),
    #[error("cannot reach the RPC at {url}: {reason} (start a chain, or pass --url)")]
    RpcUnreachable { url: String, reason: String },
    #[error("cannot reach the orchestrator at {url}: {reason} (pass --orchestrator)")]
    OrchestratorUnreachable { url: String, reason: String },
    #[error("orchestrator: {0}")]
    Orchestrator(String),
    #[error("{}", chain_message(.0))]
    Chain(#[from] ChainError),
    #[error("{0}")]
    Io(String),
    /// A check ran and did not pass (an audit, a frame verification); its report was printed.
    #[error("{0}")]
    Failed(String),
}

pub type CliResult<T> = Result<T, CliError>;

pub fn input(msg: impl Into<String>) -> CliError {
    CliError::Input(msg.into())
}

pub fn state(msg: impl Into<String>) -> CliError {
    CliError::State(msg.into())
}

/// A chain error with the program's error code spelled out.
fn chain_message(e: &ChainError) -> String {
    match e.program_error() {
        Some(c) => format!("{e}: {}", tessera_sdk::program_error::describe(c)),
        None => e.to_string(),
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e.to_string())
    }
}
