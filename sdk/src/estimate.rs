//! Render time from the nodes' on-chain benchmark scores (`node-agent bench`), the network's
//! measured rate: the artist's quote and the orchestrator's deadline check use the same numbers.
use tessera::state::Job;

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
    fn a_score_of_100_renders_10_msamples_a_second() {
        assert_eq!(render_seconds(20e6, 100), Some(2.0));
        assert_eq!(render_seconds(20e6, 0), None);
        assert_eq!(deadline_needed(20e6, 100), Some(4));
    }
}
