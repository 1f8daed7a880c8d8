//! The entry point every request goes through: route, call the store, and turn the
//! outcome into a response in one place (`respond`), then log one line.

use std::sync::Arc;
use std::time::Instant;

use lambda_http::http::header::{ALLOW, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request, RequestExt};
use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::context::{Caller, route_path};
use crate::error::{ApiError, RETRY_AFTER_SECS};
use crate::event::{Event, EventId, NewEvent};
use crate::idempotency::{self, Claim, Created, IdempotencyKey};
use crate::page::{OrderKey, PageLimit};
use crate::routes::{self, Route};
use crate::store::EventStore;

/// The weather-events API over an [`EventStore`].
#[derive(Debug)]
pub struct Api<S> {
    store: S,
    config: Config,
    clock: Arc<dyn Clock>,
}

/// What a successful request returns.
enum Reply {
    /// 200 with `{"events": [...], "nextToken": ...}`.
    Events(EventsBody),
    /// 200 with one event.
    Event(Event),
    /// 201 with the stored event and its `Location`; `replayed` for a repeated
    /// `Idempotency-Key` (adds `Idempotent-Replayed: true`).
    Created {
        location: String,
        event: Event,
        replayed: bool,
    },
    /// 204, no body.
    Deleted,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsBody {
    events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody {
    message: String,
}

impl<S: EventStore> Api<S> {
    /// The API over `store`. Build it once per container (in `main`) and share it.
    pub fn new(store: S, config: Config) -> Self {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    /// The API over `store`, dating idempotency claims with `clock`.
    pub fn with_clock(store: S, config: Config, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            config,
            clock,
        }
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
            Route::ListEvents => self.list(req).await,
            Route::GetEvent(id) => {
                let event = self.store.get(parse_id(id)?).await?;
                event.map(Reply::Event).ok_or(ApiError::EventNotFound)
            }
            Route::CreateEvent => {
                let caller = caller.ok_or(ApiError::NoCaller)?;
                let key = idempotency_key(req)?;
                let new = NewEvent::from_json(req.body())?;
                let event = new.into_event(EventId::random(), Some(caller.id().to_owned()));
                let location = format!("{}/{}", req.uri().path().trim_end_matches('/'), event.id);
                let claim = key.map(|key| {
                    Claim::new(
                        caller.id(),
                        &key,
                        &event,
                        location.clone(),
                        self.clock.now_secs(),
                    )
                });
                match self.store.create(event.clone(), claim).await? {
                    Created::Stored => Ok(Reply::Created {
                        location,
                        event,
                        replayed: false,
                    }),
                    Created::Replayed { event, location } => Ok(Reply::Created {
                        location,
                        event,
                        replayed: true,
                    }),
                }
            }
            Route::DeleteEvent(id) => match self.store.delete(parse_id(id)?).await? {
                true => Ok(Reply::Deleted),
                false => Err(ApiError::EventNotFound),
            },
        }
    }
}

impl<S: EventStore> Api<S> {
    /// `GET /events?limit=N&nextToken=T`: one page, and the token of the next if any.
    async fn list(&self, req: &Request) -> Result<Reply, ApiError> {
        let limit = PageLimit::parse(query_parameter(req, "limit")?)?;
        let after: Option<OrderKey> = match query_parameter(req, "nextToken")? {
            Some(token) => Some(self.store.page_key().open(token)?),
            None => None,
        };
        let page = self.store.page(after, limit).await?;
        Ok(Reply::Events(EventsBody {
            events: page.events,
            next_token: page.next.map(|next| self.store.page_key().seal(next)),
        }))
    }
}

/// The value of a query parameter the API reads; a repeated one is refused.
fn query_parameter<'r>(req: &'r Request, name: &'static str) -> Result<Option<&'r str>, ApiError> {
    let Some(values) = req
        .query_string_parameters_ref()
        .and_then(|query| query.all(name))
    else {
        return Ok(None);
    };
    match values.as_slice() {
        [] => Ok(None),
        [value] => Ok(Some(value)),
        _ => Err(ApiError::RepeatedParameter { name }),
    }
}

/// The request's `Idempotency-Key`, if it has one; sent twice or malformed is refused.
fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(idempotency::HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidIdempotencyKey {
            reason: "must be sent once",
        });
    }
    IdempotencyKey::parse(value.as_bytes()).map(Some)
}

/// An id that is not a UUID names no event.
fn parse_id(id: &str) -> Result<EventId, ApiError> {
    id.parse().map_err(|_| ApiError::EventNotFound)
}

/// The one place an outcome becomes an HTTP response.
fn respond(outcome: Result<Reply, ApiError>) -> Response<Body> {
    match outcome {
        Ok(Reply::Events(body)) => json(StatusCode::OK, &body),
        Ok(Reply::Event(event)) => json(StatusCode::OK, &event),
        Ok(Reply::Created {
            location,
            event,
            replayed,
        }) => {
            let mut response = json(StatusCode::CREATED, &event);
            if replayed {
                response.headers_mut().insert(
                    idempotency::REPLAYED_HEADER,
                    HeaderValue::from_static("true"),
                );
            }
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
            match err {
                ApiError::MethodNotAllowed { allow } => {
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                ApiError::StoreUnavailable(_) => {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                }
                _ => {}
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
