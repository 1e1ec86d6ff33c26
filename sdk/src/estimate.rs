//! Render time from the nodes' on-chain benchmark scores (`node-agent bench`), the network's
//! measured rate: the artist's quote and the orchestrator's deadline check use the same numbers.
//! And what a job costs: its tiles, the verification renders it may pay, the fee.
use tessera::state::{bps_of, max_verification_renders, Job};

/// What a job of `tiles` tiles escrows, with the program's own rounding, so the quote's
/// budget is the least `create_job` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// price × tiles: what the primary renders cost.
    pub tiles: u64,
    /// The most check and tiebreak renders the job pays (`⌈tiles × verify_bps / 10 000⌉`).
    pub verification_renders: u64,
    /// price × verification renders, at most (the unused part is refunded at settlement).
    pub verification: u64,
    /// The fee on both.
    pub fee: u64,
    /// tiles + verification + fee: the least budget.
    pub budget: u64,
}

/// The cost of `tiles` tiles at `price`, with the network's fee and verification share;
/// `None` on overflow.
pub fn job_cost(tiles: u64, price: u64, fee_bps: u16, verify_bps: u16) -> Option<Cost> {
    let verification_renders = max_verification_renders(tiles, verify_bps).ok()?;
    let primary = price.checked_mul(tiles)?;
    let verification = price.checked_mul(verification_renders)?;
    let cost = primary.checked_add(verification)?;
    let fee = bps_of(cost, fee_bps as u64).ok()?;
    Some(Cost {
        tiles: primary,
        verification_renders,
        verification,
        fee,
        budget: cost.checked_add(fee)?,
    })
}

/// A job's deadline must leave at least this many times its estimated render time: nodes
/// share the network with other jobs, and leases expire and are re-rendered.
pub const DEADLINE_MARGIN: f64 = 2.0;

/// Samples per second a benchmark score stands for: 100 = 10 Msamples/s on the standard scene.
pub fn samples_per_second(total_score: u64) -> f64 {
    total_score as f64 / 10.0 * 1e6
}

/// Seconds the nodes with `total_score` need for `samples`; `None` when no node is scored.
pub fn render_seconds(samples: f64, total_score: u64) -> Option<f64> {
    (total_score > 0).then(|| samples / samples_per_second(total_score))
}

/// Samples a job asks for: every pixel of every frame at its samples per pixel.
pub fn job_samples(job: &Job) -> f64 {
    let frames = job.frame_count().unwrap_or(0) as f64;
    job.width as f64 * job.height as f64 * frames * job.samples_per_pixel as f64
}

/// Seconds a deadline must leave for `samples` on nodes with `total_score` (`None`: unknown).
pub fn deadline_needed(samples: f64, total_score: u64) -> Option<i64> {
    render_seconds(samples, total_score).map(|s| (s * DEADLINE_MARGIN).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_covers_tiles_verification_and_fee() {
        // 16 tiles at 100, 10% verification = ⌈1.6⌉ = 2 renders, 2.5% fee on 1 800.
        let c = job_cost(16, 100, 250, 1_000).unwrap();
        assert_eq!(
            (
                c.tiles,
                c.verification_renders,
                c.verification,
                c.fee,
                c.budget
            ),
            (1_600, 2, 200, 45, 1_845)
        );
        assert_eq!(job_cost(1, 7, 0, 100).unwrap().verification_renders, 1);
        assert!(job_cost(u64::MAX, 2, 0, 100).is_none());
    }

    #[test]
    fn a_score_of_100_renders_10_msamples_a_second() {
        assert_eq!(render_seconds(20e6, 100), Some(2.0));
        assert_eq!(render_seconds(20e6, 0), None);
        assert_eq!(deadline_needed(20e6, 100), Some(4));
    }
}
