//! Account types, one file each.
pub mod claim;
pub mod job;
pub mod network;
pub mod node;

pub use claim::*;
pub use job::*;
pub use network::*;
pub use node::*;

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Space;

    /// The README's table of account sizes and rent is checked here.
    #[test]
    fn account_sizes_match_the_readme() {
        assert_eq!(8 + Network::INIT_SPACE, 344);
        assert_eq!(8 + Node::INIT_SPACE, 198);
        assert_eq!(8 + Job::INIT_SPACE, 381);
        assert_eq!(8 + Claim::INIT_SPACE, 97);
    }
}
