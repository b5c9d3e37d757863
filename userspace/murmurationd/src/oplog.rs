//! Reads the plugin's operation log (see `murmuration_core::oplog`) into metrics.

use std::sync::Arc;
use std::time::Duration;

use murmuration_core::oplog::OpLogReader;
use tokio_util::sync::CancellationToken;

use crate::Shared;

const POLL: Duration = Duration::from_millis(500);

pub async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut reader = OpLogReader::new(&shared.config.state.data_dir);
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (r, polled) = match tokio::task::spawn_blocking(move || {
            let polled = reader.poll();
            (reader, polled)
        })
        .await
        {
            Ok(x) => x,
            Err(_) => return,
        };
        reader = r;
        match polled {
            Ok(ops) => ops.iter().for_each(|op| shared.metrics.record_op(op)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the CNI operation log");
                shared.metrics.task_error("oplog");
            }
        }
    }
}
