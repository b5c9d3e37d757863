//! A kubelet stand-in for tests of the device plugin (host and VM tiers):
//! the Registration service on `<dir>/kubelet.sock`, which hands every
//! request to the test, and a client for a plugin's socket.

use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

use super::api::device_plugin_client::DevicePluginClient;
use super::api::registration_server::{Registration, RegistrationServer};
use super::api::{Empty, RegisterRequest};
use super::kubelet::{KUBELET_SOCKET, connect};

#[derive(Debug)]
struct Recorder(mpsc::UnboundedSender<RegisterRequest>);

#[tonic::async_trait]
impl Registration for Recorder {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        self.0.send(req.into_inner()).map_err(|_| Status::unavailable("test kubelet closed"))?;
        Ok(Response::new(Empty {}))
    }
}

/// A running Registration server; [`TestKubelet::restart`] recreates its
/// socket as a restarting kubelet does (and removes the plugins' sockets).
#[derive(Debug)]
pub struct TestKubelet {
    pub dir: PathBuf,
    pub registrations: mpsc::UnboundedReceiver<RegisterRequest>,
    tx: mpsc::UnboundedSender<RegisterRequest>,
    stop: CancellationToken,
    server: Option<JoinHandle<()>>,
}

fn serve(
    dir: &Path,
    tx: mpsc::UnboundedSender<RegisterRequest>,
    stop: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let path = dir.join(KUBELET_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    Ok(tokio::spawn(async move {
        let incoming = UnixListenerStream::new(listener);
        let _ = Server::builder()
            .add_service(RegistrationServer::new(Recorder(tx)))
            .serve_with_incoming_shutdown(incoming, stop.cancelled())
            .await;
    }))
}

impl TestKubelet {
    /// Starts serving on `<dir>/kubelet.sock` (inside a tokio runtime).
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        let (tx, registrations) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let server = serve(dir, tx.clone(), stop.clone())?;
        Ok(Self { dir: dir.to_owned(), registrations, tx, stop, server: Some(server) })
    }

    /// Stops, removes every socket in the directory, and serves again on a
    /// new `kubelet.sock`.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.shutdown().await;
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            if entry.file_type().is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t)) {
                std::fs::remove_file(entry.path())?;
            }
        }
        self.stop = CancellationToken::new();
        self.server = Some(serve(&self.dir, self.tx.clone(), self.stop.clone())?);
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        self.stop.cancel();
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }

    /// A client for the plugin that registered with `endpoint`.
    pub async fn plugin(
        &self,
        endpoint: &str,
    ) -> Result<DevicePluginClient<Channel>, tonic::transport::Error> {
        Ok(DevicePluginClient::new(connect(&self.dir.join(endpoint)).await?))
    }
}
