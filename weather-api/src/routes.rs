//! The route table: which (method, path) pairs the API serves.

use lambda_http::http::Method;

use crate::error::ApiError;

/// A matched route, with its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /events`
    ListEvents,
    /// `POST /events`
    CreateEvent,
    /// `GET /events/{id}`
    GetEvent(&'a str),
    /// `DELETE /events/{id}`
    DeleteEvent(&'a str),
}

/// The resource a path names, whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/events`
    Events,
    /// `/events/{id}`
    Event,
}

impl Resource {
    /// The path template, as logged.
    pub fn template(self) -> &'static str {
        match self {
            Self::Events => "/events",
            Self::Event => "/events/{id}",
        }
    }

    /// Value of the `Allow` header for this resource.
    pub fn allow(self) -> &'static str {
        match self {
            Self::Events => "GET, POST",
            Self::Event => "GET, DELETE",
        }
    }
}

/// The resource a path names and, for `/events/{id}`, the raw id segment.
/// Paths match exactly: no trailing slash, no empty id, no extra segments.
pub fn resource(path: &str) -> Option<(Resource, Option<&str>)> {
    let rest = path.strip_prefix("/events")?;
    if rest.is_empty() {
        return Some((Resource::Events, None));
    }
    let id = rest.strip_prefix('/')?;
    (!id.is_empty() && !id.contains('/')).then_some((Resource::Event, Some(id)))
}

/// Matches a request to a route: [`ApiError::UnknownPath`] for a path the API does not
/// serve, [`ApiError::MethodNotAllowed`] for a known path with another method.
pub fn resolve<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let (resource, id) = resource(path).ok_or(ApiError::UnknownPath)?;
    let route = match (resource, id, method) {
        (Resource::Events, _, &Method::GET) => Some(Route::ListEvents),
        (Resource::Events, _, &Method::POST) => Some(Route::CreateEvent),
        (Resource::Event, Some(id), &Method::GET) => Some(Route::GetEvent(id)),
        (Resource::Event, Some(id), &Method::DELETE) => Some(Route::DeleteEvent(id)),
        _ => None,
    };
    route.ok_or(ApiError::MethodNotAllowed {
        allow: resource.allow(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_match() {
        assert_eq!(resolve(&Method::GET, "/events").unwrap(), Route::ListEvents);
        assert_eq!(
            resolve(&Method::POST, "/events").unwrap(),
            Route::CreateEvent
        );
        assert_eq!(
            resolve(&Method::GET, "/events/abc").unwrap(),
            Route::GetEvent("abc")
        );
        assert_eq!(
            resolve(&Method::DELETE, "/events/abc").unwrap(),
            Route::DeleteEvent("abc")
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "",
            "/",
            "/event",
            "/eventsx",
            "/events/",
            "/events/a/b",
            "/events//a",
            "/other/events",
            "events",
        ] {
            assert!(
                matches!(resolve(&Method::GET, path), Err(ApiError::UnknownPath)),
                "{path:?}"
            );
        }
    }

    #[test]
    fn other_methods_are_not_allowed_with_allow_list() {
        for (method, path, allow) in [
            (Method::PUT, "/events", "GET, POST"),
            (Method::DELETE, "/events", "GET, POST"),
            (Method::PATCH, "/events", "GET, POST"),
            (Method::POST, "/events/abc", "GET, DELETE"),
            (Method::PUT, "/events/abc", "GET, DELETE"),
            (Method::OPTIONS, "/events/abc", "GET, DELETE"),
        ] {
            match resolve(&method, path) {
                Err(ApiError::MethodNotAllowed { allow: got }) => assert_eq!(got, allow),
                other => panic!("{method} {path}: {other:?}"),
            }
        }
    }
}
