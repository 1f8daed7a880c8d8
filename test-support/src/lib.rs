//! Test-only helpers shared by the workspace's crates (a dev-dependency only).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP endpoint on 127.0.0.1 forwarding to `backend` (`host:port`) that a
/// test can take down (connections refused, open ones cut) and bring back up
/// at the same address: a dependency that really goes away and returns.
pub struct Switch {
    addr: SocketAddr,
    backend: String,
    task: Mutex<Option<JoinHandle<()>>>,
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
        // Wait until the aborted task has dropped the listener.
        for _ in 0..100 {
            if TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("listener still open");
    }

    /// Listens again at the same address.
    pub async fn up(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}
