//! A hold-and-release gate: a TCP relay on 127.0.0.1 in front of a server (a
//! [`wiremock`] one, say) that, while held, keeps each answer back until the test
//! releases it. wiremock answers synchronously (its `Respond` cannot wait for the test),
//! so a request whose answer must stay open on purpose waits here instead, after the
//! server behind has seen (and counted) it.
//!
//! One request at a time per connection, as HTTP/1.1 clients send them (no pipelining):
//! the first bytes coming back after a request went out start its answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// A relay that can hold answers; see the module documentation. Stops on drop.
pub struct Gate {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    hold: AtomicBool,
    permits: Semaphore,
    /// Answers waiting at the gate now.
    held: AtomicUsize,
    /// The most answers ever waiting at once.
    max_held: AtomicUsize,
    /// Answers let through (held or not).
    passed: AtomicUsize,
}

impl Gate {
    /// Relays to `backend`, letting every answer through until [`Gate::hold`].
    pub async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            hold: AtomicBool::new(false),
            permits: Semaphore::new(0),
            held: AtomicUsize::new(0),
            max_held: AtomicUsize::new(0),
            passed: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(relay(client, backend, Arc::clone(&shared)));
            }
        });
        Self { addr, state, task }
    }

    /// The address to point the client at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on (`true`), each answer waits for a [`Gate::release`]; `false` lets
    /// answers arriving later through (those already waiting still need a release).
    pub fn hold(&self, on: bool) {
        self.state.hold.store(on, Ordering::SeqCst);
    }

    /// Lets `n` waiting (or future held) answers through.
    pub fn release(&self, n: usize) {
        self.state.permits.add_permits(n);
    }

    /// Answers waiting at the gate now.
    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }

    /// The most answers that ever waited at once.
    pub fn max_held(&self) -> usize {
        self.state.max_held.load(Ordering::SeqCst)
    }

    /// Answers let through so far (held or not).
    pub fn passed(&self) -> usize {
        self.state.passed.load(Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Dropping the accept loop's `JoinSet` aborts the open connections too.
        self.task.abort();
    }
}

/// Relays one connection until either side closes (a client that gives up on a held
/// answer closes it, and the answer is dropped with it: no permit is used).
async fn relay(client: TcpStream, backend: SocketAddr, state: Arc<State>) {
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // A request went out whose answer has not started yet.
    let awaiting = AtomicBool::new(false);
    let up = async {
        let mut buf = vec![0; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    awaiting.store(true, Ordering::SeqCst);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if awaiting.swap(false, Ordering::SeqCst) {
                if state.hold.load(Ordering::SeqCst) {
                    let now = state.held.fetch_add(1, Ordering::SeqCst) + 1;
                    state.max_held.fetch_max(now, Ordering::SeqCst);
                    let _waiting = Waiting(&state.held);
                    state.permits.acquire().await.unwrap().forget();
                }
                state.passed.fetch_add(1, Ordering::SeqCst);
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// Takes an answer off the waiting count when it passes (or its connection goes).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenMock;

    /// A raw HTTP/1.1 token request through `gate`, its connection left open.
    async fn request(gate: &Gate) -> TcpStream {
        let mut stream = TcpStream::connect(gate.addr()).await.unwrap();
        let body = "grant_type=client_credentials";
        let request = format!(
            "POST /oauth2/token HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n\r\n{body}",
            gate.addr(),
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        stream
    }

    async fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_held_answer_waits_for_its_release_and_an_open_gate_lets_answers_through() {
        let mock = TokenMock::start().await;
        let gate = Gate::start(*mock.server().address()).await;

        gate.hold(true);
        let mut held = request(&gate).await;
        mock.wait_for_calls(1).await;
        wait_until("the answer held", || gate.held() == 1).await;
        let mut buf = [0; 4096];
        assert!(
            matches!(held.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing reaches the client while held"
        );
        assert_eq!(gate.passed(), 0);

        gate.release(1);
        let n = held.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        assert_eq!((gate.held(), gate.passed(), gate.max_held()), (0, 1, 1));

        gate.hold(false);
        let mut open = request(&gate).await;
        let n = open.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        assert_eq!(gate.passed(), 2);
        mock.assert_calls(2);
    }
}
