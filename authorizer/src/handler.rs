//! The Lambda adapter: one event in, one answer or error out, one log line.

use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::authorizer::{Authorizer, Clock};
use crate::event::{AuthorizerEvent, AuthorizerResponse};

/// Handles one invocation. Client failures become the error `Unauthorized`
/// (401); failures of the authorizer itself another error (500): see
/// `From<AuthError> for Diagnostic`.
pub async fn handle<C: Clock>(
    authorizer: &Authorizer<C>,
    event: LambdaEvent<AuthorizerEvent>,
) -> Result<AuthorizerResponse, Diagnostic> {
    let outcome = authorizer.handle(&event.payload).await;
    let claims = outcome.verified.as_ref().map(|v| &v.claims);
    let client_id = claims.map(|c| c.client.as_str());
    let sub = claims.and_then(|c| c.sub.as_deref());
    let kid = claims.map(|c| c.kid.as_str());
    let route = outcome.route.map(tracing::field::display);
    match &outcome.result {
        Ok(_) => tracing::info!(
            decision = outcome.decision.as_str(),
            reason = outcome.reason,
            route,
            client_id,
            sub,
            kid,
            "authorizer decision"
        ),
        Err(e) if e.is_server_fault() => {
            tracing::error!(decision = "error", reason = e.reason(), error = %e, route, "authorizer failed")
        }
        Err(e) => tracing::info!(
            decision = "unauthorized",
            reason = e.reason(),
            route,
            client_id,
            sub,
            kid,
            "authorizer decision"
        ),
    }
    outcome.result.map_err(Diagnostic::from)
}
