//! How an orchestrator sees a node (`GET /v1/nodes/{key}`): the wire type the orchestrator
//! serves and the CLI and node agent read.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStanding {
    /// base58 node key.
    pub node_key: String,
    /// Whether the orchestrator has any record of the node.
    pub known: bool,
    /// 0..=1; new nodes start at 0.5.
    pub reputation: f64,
    pub tiles_rendered: i64,
    pub tiles_verified: i64,
    pub faults: i64,
    /// Jobs in which the node holds accepted tiles.
    pub jobs: Vec<CreditedJob>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditedJob {
    pub job_id: u64,
    pub tiles_credited: u64,
}

impl NodeStanding {
    pub fn job_ids(&self) -> Vec<u64> {
        self.jobs.iter().map(|j| j.job_id).collect()
    }
}
