//! Account types, one file each.
pub mod claim;
pub mod job;
pub mod network;
pub mod node;

pub use claim::*;
pub use job::*;
pub use network::*;
pub use node::*;
