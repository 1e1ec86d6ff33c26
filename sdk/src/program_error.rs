//! The program's custom error codes as readable errors.
use tessera::errors::TesseraError;

/// Every program error, in declaration order (code = 6000 + position).
const ALL: &[TesseraError] = &[
    TesseraError::ArithmeticError,
    TesseraError::NetworkPaused,
    TesseraError::FeeTooHigh,
    TesseraError::InvalidPeriod,
    TesseraError::NotAdmin,
    TesseraError::NotOrchestrator,
    TesseraError::NotArtist,
    TesseraError::NotOperator,
    TesseraError::WrongMint,
    TesseraError::WrongTokenOwner,
    TesseraError::WrongTreasury,
    TesseraError::HardwareTooLong,
    TesseraError::StakeBelowMinimum,
    TesseraError::ZeroAmount,
    TesseraError::InsufficientStake,
    TesseraError::UnstakePending,
    TesseraError::NoUnstakePending,
    TesseraError::CooldownNotElapsed,
    TesseraError::InvalidJobParameters,
    TesseraError::BudgetTooSmall,
    TesseraError::DeadlineInPast,
    TesseraError::WrongJobState,
    TesseraError::DeadlineNotReached,
    TesseraError::WrongTileCount,
    TesseraError::InvalidNodeCount,
    TesseraError::PayoutExceedsEscrow,
    TesseraError::ChallengeWindowOpen,
    TesseraError::ChallengeWindowClosed,
    TesseraError::InvalidProof,
    TesseraError::ProofTooLong,
    TesseraError::InvalidRefundShare,
    TesseraError::ClaimsStillOpen,
    TesseraError::NotUpgradeAuthority,
    TesseraError::TooManyTiles,
    TesseraError::NotPendingAdmin,
    TesseraError::DisputesOpen,
    TesseraError::CooldownTooShort,
    TesseraError::SettleGraceRunning,
    TesseraError::ReceiptTooLate,
    TesseraError::ResolutionDeadlinePassed,
    TesseraError::ResolutionPending,
    TesseraError::ParameterOutOfRange,
    TesseraError::UnsupportedLoader,
    TesseraError::NoPendingUpdate,
    TesseraError::TimelockRunning,
    TesseraError::SlashAmountOutOfRange,
    TesseraError::SlashWindowClosed,
    TesseraError::SlashWindowOpen,
    TesseraError::MissingSignatureCheck,
    TesseraError::SignatureCheckOffsets,
    TesseraError::SignerNotSlashedNode,
    TesseraError::SignedMessageMismatch,
    TesseraError::EvidenceNotConflicting,
    TesseraError::NothingToSlash,
    TesseraError::StakeLocked,
    TesseraError::InvalidNodeAccount,
    TesseraError::TooManyVerificationRenders,
    TesseraError::PayoutNotPerRender,
    TesseraError::ContestWindowClosed,
    TesseraError::ContestResolved,
    TesseraError::InvalidContestLeaves,
    TesseraError::LeavesNotIncreasing,
    TesseraError::NotShort,
    TesseraError::SignerNotWitness,
    TesseraError::AlreadyCorroborated,
    TesseraError::TooManyWitnesses,
    TesseraError::TileAlreadySlashed,
    TesseraError::AcceptedRenderNotCorroborated,
    TesseraError::NotCorroborated,
    TesseraError::SignerNotOrchestrator,
    TesseraError::AckHonoured,
    TesseraError::RenderConvicted,
    TesseraError::BondTooSmall,
    TesseraError::BondLocked,
    TesseraError::InsufficientBond,
    TesseraError::WitnessTooNew,
    TesseraError::WitnessStakeTooNew,
    TesseraError::WitnessUnderStaked,
];

/// The Tessera error behind a custom program error code, if it is one.
pub fn tessera_error(code: u32) -> Option<TesseraError> {
    ALL.iter().copied().find(|e| u32::from(*e) == code)
}

/// A readable description of any custom error code the program can return
/// (its own errors and Anchor's constraint errors).
pub fn describe(code: u32) -> String {
    if let Some(e) = tessera_error(code) {
        return format!("{e:?}: {e}");
    }
    // Anchor's own codes, by range (see anchor_lang::error::ErrorCode).
    let kind = match code {
        100..=999 => "Anchor instruction error",
        1000..=1999 => "Anchor IDL error",
        2000..=2999 => "Anchor account constraint violated",
        3000..=3999 => "Anchor account error",
        _ => "custom program error",
    };
    format!("{kind} ({code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_named() {
        for (i, e) in ALL.iter().enumerate() {
            assert_eq!(u32::from(*e), 6000 + i as u32);
        }
        assert!(tessera_error(6000 + ALL.len() as u32).is_none());
        let proof = u32::from(TesseraError::InvalidProof);
        assert!(describe(proof).starts_with("InvalidProof: merkle proof"));
        assert_eq!(describe(2001), "Anchor account constraint violated (2001)");
    }
}
