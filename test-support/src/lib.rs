//! Test-only helpers shared by the workspace's crates (a dev-dependency only, and the
//! local stack's): [`fixtures`] (the `expected.json` fixture tables), [`jwks`] (a JWKS
//! endpoint mock), [`token`] (a token endpoint mock), [`gate`] (answers held until the
//! test releases them), [`ClosedPort`] and [`Switch`] (an endpoint that goes down and
//! up): no mock-server crate does those last three.

pub mod fixtures;
pub mod gate;
pub mod jwks;
pub mod token;

pub mod moto;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A port on 127.0.0.1 that refuses every connection: bound, so nothing else on the
/// machine can take it (a port merely left free could be handed to any other
/// socket meanwhile), but not listening.
pub struct ClosedPort {
    socket: TcpSocket,
}

impl ClosedPort {
    /// Reserves a fresh port.
    pub fn new() -> Self {
        Self::at("127.0.0.1:0".parse().unwrap())
    }

    fn at(addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        // Bindable while the port's last connections sit in TIME_WAIT.
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(addr)
            .unwrap_or_else(|e| panic!("reserving {addr}: {e}"));
        Self { socket }
    }

    /// The address that refuses connections.
    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Starts listening on the reserved port.
    fn listen(self) -> TcpListener {
        self.socket.listen(1024).unwrap()
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP endpoint on 127.0.0.1 forwarding to `backend` (`host:port`) that a
/// test can take down (connections refused, open ones cut) and bring back up
/// at the same address: a dependency that really goes away and returns.
pub struct Switch {
    addr: SocketAddr,
    backend: String,
    task: Mutex<Option<JoinHandle<()>>>,
    /// While down: the port, kept bound so that nothing else takes it before `up`.
    reserved: Mutex<Option<ClosedPort>>,
    /// Open proxied connections: closed too when the endpoint goes down.
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Switch {
    /// Starts forwarding to `backend` (`host:port`).
    pub async fn start(backend: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let switch = Self {
            addr: listener.local_addr().unwrap(),
            backend: backend.to_owned(),
            task: Mutex::new(None),
            reserved: Mutex::new(None),
            connections: Arc::default(),
        };
        switch.serve(listener);
        switch
    }

    /// The address to point the code under test at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(&self, listener: TcpListener) {
        let backend = self.backend.clone();
        let connections = self.connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let backend = backend.clone();
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(connection);
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Closes the listening socket: from now on connections are refused.
    pub async fn down(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
        // Wait until the aborted task has dropped the listener, then hold the port.
        for _ in 0..500 {
            if TcpStream::connect(self.addr).await.is_err() {
                *self.reserved.lock().unwrap() = Some(ClosedPort::at(self.addr));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("listener still open");
    }

    /// Listens again at the same address.
    pub async fn up(&self) {
        let reserved = self.reserved.lock().unwrap().take();
        let listener = match reserved {
            Some(port) => port.listen(),
            None => TcpListener::bind(self.addr).await.unwrap(),
        };
        self.serve(listener);
    }
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("addr", &self.addr)
            .field("backend", &self.backend)
            .field("up", &self.reserved.lock().map(|r| r.is_none()).ok())
            .finish()
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}
