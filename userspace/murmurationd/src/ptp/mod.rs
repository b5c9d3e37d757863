//! PTP monitoring (filled in below).
pub mod prober;

use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::Shared;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {}

pub async fn run(shared: Arc<Shared>, _cancel: CancellationToken) {
    shared.set_ptp_status(Status::default());
}
