use anchor_lang::prelude::*;

use crate::{constants::*, errors::TesseraError, events::NodeUpdated, state::Node};

#[derive(Accounts)]
pub struct UpdateNode<'info> {
    /// The node's operator.
    pub operator: Signer<'info>,
    /// The node record.
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump, has_one = operator @ TesseraError::NotOperator)]
    pub node: Account<'info, Node>,
}

/// Records a new benchmark score and hardware description.
/// CHECK: operator signs and owns the node (struct); hardware ≤ 64 bytes.
pub fn handle_update_node(
    ctx: Context<UpdateNode>,
    benchmark_score: u64,
    hardware: String,
) -> Result<()> {
    require!(
        hardware.len() <= MAX_HARDWARE_LEN,
        TesseraError::HardwareTooLong
    );
    let node = &mut ctx.accounts.node;
    node.benchmark_score = benchmark_score;
    node.hardware = hardware;
    emit!(NodeUpdated {
        node_key: node.node_key,
        benchmark_score
    });
    Ok(())
}
