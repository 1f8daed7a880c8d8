//! A small HTTP/1.1 server on hyper: each request's body is read whole (up to a limit)
//! and handed to a [`Handler`]; shared by the local Cognito and the local API Gateway.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A response with a complete body.
pub type HttpResponse = Response<Full<Bytes>>;

/// The request body, or why it could not be read.
#[derive(Debug)]
pub enum Body {
    /// The whole body.
    Complete(Bytes),
    /// Longer than the server's limit: not read.
    TooLarge,
    /// The connection failed while reading it.
    Broken,
}

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(
        &self,
        request: hyper::http::request::Parts,
        body: Body,
        peer: SocketAddr,
    ) -> impl Future<Output = HttpResponse> + Send;
}

/// Serves `handler` on `listener` until the returned task is aborted.
pub fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    max_body: usize,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = match Limited::new(body, max_body).collect().await {
                            Ok(collected) => Body::Complete(collected.to_bytes()),
                            Err(e) if e.is::<http_body_util::LengthLimitError>() => Body::TooLarge,
                            Err(_) => Body::Broken,
                        };
                        Ok::<_, Infallible>(handler.handle(parts, body, peer).await)
                    }
                });
                // A client that goes away mid-request is not an error of the server.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// A JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Binds `127.0.0.1:port` (0: a free port).
pub async fn bind(port: u16) -> Result<TcpListener, crate::StackError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| crate::StackError::io(format!("binding 127.0.0.1:{port}"), e))
}
