//! One pool's DevicePlugin service: the kubelet's calls on the pool's socket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::alloc;
use super::api::device_plugin_server::DevicePlugin;
use super::api::{
    AllocateRequest, AllocateResponse, ContainerAllocateRequest, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, Device, DevicePluginOptions, DeviceSpec, Empty,
    ListAndWatchResponse, NumaNode, PreStartContainerRequest, PreStartContainerResponse,
    PreferredAllocationRequest, PreferredAllocationResponse, TopologyInfo,
};
use super::scan::{HEALTHY, UNHEALTHY, Vf};
use crate::metrics::DevicePluginMetrics;

/// What the service needs: the pool's live VF list and where to write.
#[derive(Debug, Clone)]
pub struct PoolService {
    pub resource: String,
    pub vfs: watch::Receiver<Vec<Vf>>,
    pub devinfo_dir: PathBuf,
    pub dev_dir: PathBuf,
    pub metrics: DevicePluginMetrics,
    /// Ends open ListAndWatch streams (shutdown, or a new registration round).
    pub cancel: CancellationToken,
}

pub fn options() -> DevicePluginOptions {
    DevicePluginOptions { pre_start_required: false, get_preferred_allocation_available: true }
}

fn device(vf: &Vf) -> Device {
    Device {
        id: vf.id().to_owned(),
        health: if vf.healthy { HEALTHY } else { UNHEALTHY }.to_owned(),
        topology: vf.numa.map(|id| TopologyInfo { nodes: vec![NumaNode { id }] }),
    }
}

pub fn list(vfs: &[Vf]) -> ListAndWatchResponse {
    ListAndWatchResponse { devices: vfs.iter().map(device).collect() }
}

/// Sends the current list, then one per change, until the client goes away
/// or `cancel` fires.
async fn feed(
    mut vfs: watch::Receiver<Vec<Vf>>,
    tx: mpsc::Sender<Result<ListAndWatchResponse, Status>>,
    cancel: CancellationToken,
) {
    loop {
        let msg = list(&vfs.borrow_and_update());
        if tx.send(Ok(msg)).await.is_err() {
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tx.closed() => return,
            r = vfs.changed() => if r.is_err() { return },
        }
    }
}

impl PoolService {
    fn allocate_one(
        &self,
        req: &ContainerAllocateRequest,
    ) -> Result<ContainerAllocateResponse, Status> {
        let pool = self.vfs.borrow().clone();
        let mut chosen = Vec::new();
        for id in &req.devices_ids {
            let vf = pool.iter().find(|v| v.id() == id).ok_or_else(|| {
                Status::invalid_argument(format!("{id} is not a device of {}", self.resource))
            })?;
            chosen.push(vf);
        }
        let mut devices = Vec::new();
        for vf in &chosen {
            let path = alloc::devinfo_path(&self.devinfo_dir, &self.resource, vf.id());
            murmuration_core::attach::devinfo::write(&path, &vf.dev)
                .map_err(|e| Status::internal(format!("writing {}: {e}", path.display())))?;
            devices.extend(alloc::vfio_nodes(vf, &self.dev_dir).into_iter().map(|n| DeviceSpec {
                container_path: n.container.display().to_string(),
                host_path: n.host.display().to_string(),
                permissions: "rw".into(),
            }));
        }
        devices.dedup();
        let ids: Vec<&str> = chosen.iter().map(|v| v.id()).collect();
        let envs = HashMap::from([(alloc::env_name(&self.resource), ids.join(","))]);
        Ok(ContainerAllocateResponse { envs, devices, ..Default::default() })
    }
}

type ListStream = Pin<Box<dyn Stream<Item = Result<ListAndWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DevicePlugin for PoolService {
    type ListAndWatchStream = ListStream;

    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(options()))
    }

    async fn list_and_watch(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(feed(self.vfs.clone(), tx, self.cancel.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_preferred_allocation(
        &self,
        req: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let pool = self.vfs.borrow().clone();
        let container_responses = req
            .into_inner()
            .container_requests
            .iter()
            .map(|c| ContainerPreferredAllocationResponse {
                device_ids: alloc::preferred(
                    &pool,
                    &c.available_device_ids,
                    &c.must_include_device_ids,
                    usize::try_from(c.allocation_size).unwrap_or(0),
                ),
            })
            .collect();
        Ok(Response::new(PreferredAllocationResponse { container_responses }))
    }

    async fn allocate(
        &self,
        req: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let req = req.into_inner();
        let container_responses: Vec<ContainerAllocateResponse> =
            match req.container_requests.iter().map(|c| self.allocate_one(c)).collect() {
                Ok(r) => r,
                Err(status) => {
                    let reason = match status.code() {
                        tonic::Code::InvalidArgument => "unknown_device",
                        _ => "devinfo_write",
                    };
                    self.metrics.allocate_error(&self.resource, reason);
                    return Err(status);
                }
            };
        let vfs = req.container_requests.iter().map(|c| c.devices_ids.len()).sum();
        self.metrics.allocated(&self.resource, vfs);
        Ok(Response::new(AllocateResponse { container_responses }))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse {}))
    }
}
