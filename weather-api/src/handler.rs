//! The entry point every request goes through: route, call the store, and turn the
//! outcome into a response in one place (`respond`), then log one line.

use std::time::Instant;

use lambda_http::http::header::{ALLOW, CONTENT_TYPE, HeaderValue, LOCATION};
use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};
use serde::Serialize;

use crate::config::Config;
use crate::context::{Caller, route_path};
use crate::error::ApiError;
use crate::event::{Event, EventId, NewEvent};
use crate::routes::{self, Route};
use crate::store::EventStore;

/// The weather-events API over an [`EventStore`].
#[derive(Debug)]
pub struct Api<S> {
    store: S,
    config: Config,
}

/// What a successful request returns.
enum Reply {
    /// 200 with `{"events": [...]}`.
    Events(Vec<Event>),
    /// 200 with one event.
    Event(Event),
    /// 201 with the stored event and its `Location`.
    Created { location: String, event: Event },
    /// 204, no body.
    Deleted,
}

#[derive(Serialize)]
struct EventsBody {
    events: Vec<Event>,
}

#[derive(Serialize)]
struct ErrorBody {
    message: String,
}

impl<S: EventStore> Api<S> {
    /// The API over `store`. Build it once per container (in `main`) and share it.
    pub fn new(store: S, config: Config) -> Self {
        Self { store, config }
    }

    /// The store the API reads and writes.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Serves one request. Never fails: every error becomes a JSON `{"message"}` response.
    ///
    /// Logs one line per request with the method, route template, status, calling
    /// client and latency. Headers (and so the `Authorization` header) are never logged.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let path = route_path(&req);
        let caller = Caller::from_request(&req).or_else(|| self.config.anonymous_caller.clone());
        let outcome = match routes::resolve(req.method(), path) {
            Ok(route) => self.dispatch(route, &req, caller.as_ref()).await,
            Err(err) => Err(err),
        };
        if let Err(err) = &outcome {
            if err.status().is_server_error() {
                tracing::error!(error = %err, "request failed");
            } else {
                tracing::info!(error = %err, "request refused");
            }
        }
        let response = respond(outcome);
        tracing::info!(
            method = %req.method(),
            route = routes::resource(path).map_or("unmatched", |(resource, _)| resource.template()),
            status = response.status().as_u16(),
            client_id = caller.as_ref().map_or("-", Caller::id),
            latency_ms = started.elapsed().as_secs_f64() * 1e3,
            "request served"
        );
        response
    }

    async fn dispatch(
        &self,
        route: Route<'_>,
        req: &Request,
        caller: Option<&Caller>,
    ) -> Result<Reply, ApiError> {
        match route {
            Route::ListEvents => Ok(Reply::Events(self.store.list().await?)),
            Route::GetEvent(id) => {
                let event = self.store.get(parse_id(id)?).await?;
                event.map(Reply::Event).ok_or(ApiError::EventNotFound)
            }
            Route::CreateEvent => {
                let caller = caller.ok_or(ApiError::NoCaller)?;
                let new = NewEvent::from_json(req.body())?;
                let event = new.into_event(EventId::random(), Some(caller.id().to_owned()));
                self.store.insert(event.clone()).await?;
                let location = format!("{}/{}", req.uri().path().trim_end_matches('/'), event.id);
                Ok(Reply::Created { location, event })
            }
            Route::DeleteEvent(id) => match self.store.delete(parse_id(id)?).await? {
                true => Ok(Reply::Deleted),
                false => Err(ApiError::EventNotFound),
            },
        }
    }
}

/// An id that is not a UUID names no event.
fn parse_id(id: &str) -> Result<EventId, ApiError> {
    id.parse().map_err(|_| ApiError::EventNotFound)
}

/// The one place an outcome becomes an HTTP response.
fn respond(outcome: Result<Reply, ApiError>) -> Response<Body> {
    match outcome {
        Ok(Reply::Events(events)) => json(StatusCode::OK, &EventsBody { events }),
        Ok(Reply::Event(event)) => json(StatusCode::OK, &event),
        Ok(Reply::Created { location, event }) => {
            let mut response = json(StatusCode::CREATED, &event);
            match HeaderValue::try_from(location) {
                Ok(value) => {
                    response.headers_mut().insert(LOCATION, value);
                }
                // Unreachable in practice: the request path and a UUID are valid header text.
                Err(err) => tracing::warn!(error = %err, "no Location header"),
            }
            response
        }
        Ok(Reply::Deleted) => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(err) => {
            let mut response = json(
                err.status(),
                &ErrorBody {
                    message: err.client_message(),
                },
            );
            if let ApiError::MethodNotAllowed { allow } = err {
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allow));
            }
            response
        }
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let (status, body) = match serde_json::to_string(value) {
        Ok(body) => (status, body),
        Err(err) => {
            tracing::error!(error = %err, "response serialization failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"internal server error"}"#.to_owned(),
            )
        }
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
