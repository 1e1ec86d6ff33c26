//! Account types, one file each.
pub mod bond;
pub mod claim;
pub mod contest;
pub mod job;
pub mod network;
pub mod node;
pub mod slash;

pub use bond::*;
pub use claim::*;
pub use contest::*;
pub use job::*;
pub use network::*;
pub use node::*;
pub use slash::*;

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Space;

    /// The README's table of account sizes and rent is checked here.
    #[test]
    fn account_sizes_match_the_readme() {
        assert_eq!(8 + Network::INIT_SPACE, 380);
        assert_eq!(8 + Node::INIT_SPACE, 222);
        assert_eq!(8 + Job::INIT_SPACE, 435);
        assert_eq!(8 + Claim::INIT_SPACE, 97);
        assert_eq!(8 + SlashRecord::INIT_SPACE, 550);
        assert_eq!(8 + Contest::INIT_SPACE, 148);
        assert_eq!(8 + OrchestratorBond::INIT_SPACE, 98);
    }
}
