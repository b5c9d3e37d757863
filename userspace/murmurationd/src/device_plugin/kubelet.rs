//! The kubelet side of a pool: its socket, the gRPC server on it, the
//! registration with `kubelet.sock`, and a new round whenever the kubelet
//! restarts (it recreates `kubelet.sock` and removes the plugins' sockets).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Endpoint, Server};

use super::api::RegisterRequest;
use super::api::device_plugin_server::DevicePluginServer;
use super::api::registration_client::RegistrationClient;
use super::server::{PoolService, options};

pub const KUBELET_SOCKET: &str = "kubelet.sock";
pub const API_VERSION: &str = "v1beta1";

#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("cannot listen on {path}")]
    Listen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("the kubelet refused the registration of {resource}")]
    Register {
        resource: String,
        #[source]
        source: tonic::Status,
    },
}

/// A gRPC channel to the unix socket `path` (the URI is a placeholder).
pub async fn connect(path: &Path) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let path = path.to_owned();
    Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
}

/// The identity of a socket file (device and inode), to see it recreated.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// One pool's settings for its rounds.
#[derive(Debug, Clone)]
pub struct Pool {
    pub service: PoolService,
    pub kubelet_dir: PathBuf,
    /// The socket file's name in `kubelet_dir` (the registration's endpoint).
    pub endpoint: String,
    pub poll: Duration,
}

impl Pool {
    fn socket(&self) -> PathBuf {
        self.kubelet_dir.join(&self.endpoint)
    }

    fn serve(
        &self,
        round: &CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, KubeletError> {
        let path = self.socket();
        // A socket left by an earlier run would make bind fail.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|source| KubeletError::Listen { path: path.clone(), source })?;
        let service = PoolService { cancel: round.clone(), ..self.service.clone() };
        let round = round.clone();
        Ok(tokio::spawn(async move {
            let incoming = UnixListenerStream::new(listener);
            let server = Server::builder().add_service(DevicePluginServer::new(service));
            if let Err(e) = server.serve_with_incoming_shutdown(incoming, round.cancelled()).await {
                tracing::error!(error = %crate::chain(&e), "device plugin server stopped");
            }
        }))
    }

    async fn register(&self) -> Result<(), KubeletError> {
        let path = self.kubelet_dir.join(KUBELET_SOCKET);
        let channel =
            connect(&path).await.map_err(|source| KubeletError::Connect { path, source })?;
        let request = RegisterRequest {
            version: API_VERSION.into(),
            endpoint: self.endpoint.clone(),
            resource_name: self.service.resource.clone(),
            options: Some(options()),
        };
        RegistrationClient::new(channel).register(request).await.map_err(|source| {
            KubeletError::Register { resource: self.service.resource.clone(), source }
        })?;
        Ok(())
    }

    /// Waits (polling) until `kubelet.sock` is no longer the one registered
    /// with or the pool's own socket was removed, or until cancelled.
    async fn until_restart(
        &self,
        kubelet: Option<(u64, u64)>,
        own: Option<(u64, u64)>,
        cancel: &CancellationToken,
    ) {
        let kubelet_path = self.kubelet_dir.join(KUBELET_SOCKET);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(self.poll) => {}
            }
            if identity(&kubelet_path) != kubelet || identity(&self.socket()) != own {
                return;
            }
        }
    }

    /// One round: serve, register, wait for a kubelet restart. A failed
    /// registration ends the round after one poll interval (then retried).
    async fn round(&self, cancel: &CancellationToken) -> Result<(), KubeletError> {
        let round = cancel.child_token();
        let server = self.serve(&round)?;
        let own = identity(&self.socket());
        let kubelet = identity(&self.kubelet_dir.join(KUBELET_SOCKET));
        let result = self.register().await;
        let metrics = &self.service.metrics;
        match &result {
            Ok(()) => {
                tracing::info!(resource = %self.service.resource, endpoint = %self.endpoint, "registered with the kubelet");
                metrics.registered(&self.service.resource, true);
                self.until_restart(kubelet, own, cancel).await;
                metrics.registered(&self.service.resource, false);
            }
            Err(_) => {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
        }
        round.cancel();
        let _ = server.await;
        result
    }

    /// Rounds until cancelled; the socket is removed at the end.
    pub async fn run(self, cancel: CancellationToken) {
        let mut failing = false;
        while !cancel.is_cancelled() {
            match self.round(&cancel).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %crate::chain(&e), "device plugin registration failed; retrying");
                }
                Err(e) => tracing::debug!(error = %crate::chain(&e), "registration still failing"),
            }
        }
        let _ = std::fs::remove_file(self.socket());
    }
}
