//! Every error the program returns, with a message clients can show.
use anchor_lang::prelude::*;

#[error_code]
pub enum TesseraError {
    #[msg("arithmetic overflow")]
    ArithmeticError,
    #[msg("the network is paused")]
    NetworkPaused,
    #[msg("protocol fee above the cap")]
    FeeTooHigh,
    #[msg("period out of range")]
    InvalidPeriod,
    #[msg("signer is not the network admin")]
    NotAdmin,
    #[msg("signer is not the job's orchestrator")]
    NotOrchestrator,
    #[msg("signer is not the artist of this job")]
    NotArtist,
    #[msg("signer is not the node operator")]
    NotOperator,
    #[msg("token mint differs from the network's token")]
    WrongMint,
    #[msg("token account owner does not match")]
    WrongTokenOwner,
    #[msg("treasury account differs from the network's treasury")]
    WrongTreasury,
    #[msg("hardware description too long")]
    HardwareTooLong,
    #[msg("stake below the network minimum")]
    StakeBelowMinimum,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("amount exceeds the available stake")]
    InsufficientStake,
    #[msg("an unstake request is already pending")]
    UnstakePending,
    #[msg("no unstake request is pending")]
    NoUnstakePending,
    #[msg("unstake cooldown has not elapsed")]
    CooldownNotElapsed,
    #[msg("invalid job parameters")]
    InvalidJobParameters,
    #[msg("budget does not cover the price of every tile")]
    BudgetTooSmall,
    #[msg("deadline must be in the future")]
    DeadlineInPast,
    #[msg("action not allowed in the job's current state")]
    WrongJobState,
    #[msg("the job's deadline has not passed yet")]
    DeadlineNotReached,
    #[msg("tile count differs from the job's tiles")]
    WrongTileCount,
    #[msg("invalid node count")]
    InvalidNodeCount,
    #[msg("total payout exceeds what the job can pay")]
    PayoutExceedsEscrow,
    #[msg("the challenge window is still open")]
    ChallengeWindowOpen,
    #[msg("the challenge window has closed")]
    ChallengeWindowClosed,
    #[msg("merkle proof does not match the payout root")]
    InvalidProof,
    #[msg("merkle proof too long")]
    ProofTooLong,
    #[msg("refund share above 100%")]
    InvalidRefundShare,
    #[msg("claims are still open")]
    ClaimsStillOpen,
    #[msg("only the program's upgrade authority may initialise the network")]
    NotUpgradeAuthority,
    #[msg("the job has more tiles than a receipt can count (u32)")]
    TooManyTiles,
    #[msg("signer is not the proposed admin")]
    NotPendingAdmin,
    /// Retired: open disputes no longer hold withdrawals (the per-node stake lock keeps every
    /// slash in reach). Kept so that the later codes keep their numbers.
    #[msg("a dispute is open: stake cannot be withdrawn until it is resolved")]
    DisputesOpen,
    #[msg("the unstake cooldown must exceed the challenge window plus the resolution period")]
    CooldownTooShort,
    #[msg("the orchestrator's time to post the receipt of the verified tiles is still running")]
    SettleGraceRunning,
    #[msg("the time to post a receipt (deadline or cancel request, plus grace) has passed")]
    ReceiptTooLate,
    #[msg("the dispute's resolution deadline has passed; only its default outcome remains")]
    ResolutionDeadlinePassed,
    #[msg("the dispute's resolution deadline has not passed yet")]
    ResolutionPending,
    #[msg("parameter out of range")]
    ParameterOutOfRange,
    #[msg("the program is deployed by a loader that has no upgrade authority to check")]
    UnsupportedLoader,
    #[msg("no network update is pending")]
    NoPendingUpdate,
    #[msg("the network update's timelock has not passed")]
    TimelockRunning,
    #[msg("slash amount out of range (1 ..= min stake)")]
    SlashAmountOutOfRange,
    #[msg("the job's slash window has closed")]
    SlashWindowClosed,
    #[msg("the job's slash window is still open")]
    SlashWindowOpen,
    #[msg("no Ed25519 signature check of one signature right before this instruction")]
    MissingSignatureCheck,
    #[msg("the Ed25519 check reads its key, signature or message outside its own data")]
    SignatureCheckOffsets,
    #[msg("the signature is not by the slashed node's key")]
    SignerNotSlashedNode,
    #[msg("the signed message is not the tile message of this job, tile and hash")]
    SignedMessageMismatch,
    #[msg("the evidence does not conflict with the receipt (same node or same hash)")]
    EvidenceNotConflicting,
    #[msg("the node has no stake left to slash")]
    NothingToSlash,
    #[msg("stake is locked until the slash windows of the node's recent jobs close")]
    StakeLocked,
    #[msg("an account to lock is not a distinct node of this program")]
    InvalidNodeAccount,
    #[msg("the receipt's renders exceed its tiles plus the job's verification renders (or are fewer than its tiles)")]
    TooManyVerificationRenders,
    #[msg("a payout leaf's amount is not the job's price times its tiles")]
    PayoutNotPerRender,
    #[msg("the job's contest window (its challenge window) has closed")]
    ContestWindowClosed,
    #[msg("the contest has been resolved already")]
    ContestResolved,
    #[msg("contest leaves: 1 ..= 8 per call, each with a valid role")]
    InvalidContestLeaves,
    #[msg("contest leaves must be strictly increasing in (frame, tile, role)")]
    LeavesNotIncreasing,
    #[msg("the proven tile leaves are not worth more than the node's payout leaf")]
    NotShort,
    #[msg("the signature is not by the witnessing node's key")]
    SignerNotWitness,
    #[msg("this node already vouched for the tile")]
    AlreadyCorroborated,
    #[msg("the tile's slash record holds the most witnesses it can")]
    TooManyWitnesses,
    #[msg("the tile has been slashed already")]
    TileAlreadySlashed,
    #[msg("no witness is the tile's primary render by another operator with another hash")]
    AcceptedRenderNotCorroborated,
    #[msg("fewer than 2 distinct other operators signed another hash for the tile in the receipt")]
    NotCorroborated,
    #[msg("the signature is not by the job's orchestrator")]
    SignerNotOrchestrator,
    #[msg("the receipt credits the acknowledged render itself: prove its leaf instead")]
    AckHonoured,
    #[msg("the node was slashed for this tile's render")]
    RenderConvicted,
    #[msg("the orchestrator's bond holds less than the job's minimum")]
    BondTooSmall,
    #[msg("the orchestrator's bond is locked until its receipts' windows and resolution periods close")]
    BondLocked,
    #[msg("the withdrawal exceeds the bond's balance")]
    InsufficientBond,
    #[msg("the witness was registered at or after the job's creation")]
    WitnessTooNew,
    #[msg("the witness added stake at or after the job's creation")]
    WitnessStakeTooNew,
    #[msg("the witness's active stake is below the job's slash amount")]
    WitnessUnderStaked,
}
