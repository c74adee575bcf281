//! Builds the HTTP application and runs it until shutdown. Tests call the same functions
//! with a listener on port 0 and their own database.

use crate::routes::me::{IDENTITY_BODY_LIMIT, UPLOAD_BODY_LIMIT};
use crate::{ApiError, AppState, Settings, error::PROBLEM_CONTENT_TYPE, openapi, telemetry};
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::Limited;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use std::{io, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

/// Largest JSON body accepted (uploads have their own limit on their own route).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;
const DOCUMENT_UPLOAD_ROUTE: &str = "/v1/me/credentials/{id}/document";
const IDENTITY_UPLOAD_ROUTE: &str = "/v1/me/identity";

/// The whole HTTP application.
pub fn build_router(state: AppState, settings: &Settings) -> Router {
    telemetry::install_metrics();
    let (router, _spec) = openapi::router_and_spec();
    let layers = ServiceBuilder::new()
        .layer(middleware::map_request(drop_unusable_request_id))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(telemetry::track_metrics))
        .layer(middleware::map_response(problem_for_bare_errors))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // The API serves data, never pages: nothing in a response may load or frame.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        // Responses carry tokens and personal data: no cache may keep them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(middleware::from_fn(limit_body))
        // The timeout answers the client; inside it, an idempotent request runs to its end
        // regardless (see `idempotency`), so its retry finds the real answer.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::idempotency::idempotency,
        ))
        // Bodies are bounded per route by `limit_body` instead.
        .layer(DefaultBodyLimit::disable());
    let router = router
        .merge(crate::web::router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(layers);
    // Outermost, so preflights are answered before authentication and limits.
    let router = match cors(settings) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

/// Cross-origin access for the configured browser apps only. Tokens travel in the
/// `Authorization` header, never in cookies, so credentials mode stays off.
fn cors(settings: &Settings) -> Option<CorsLayer> {
    if settings.cors_allowed_origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(settings.cors_allowed_origins.clone()))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::RETRY_AFTER,
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Bounds every request body: 64 KiB of JSON, one document upload, or an identity's two
/// images.
async fn limit_body(request: Request, next: Next) -> Response {
    let limit = match request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some(DOCUMENT_UPLOAD_ROUTE) => UPLOAD_BODY_LIMIT,
        Some(IDENTITY_UPLOAD_ROUTE) => IDENTITY_BODY_LIMIT,
        _ => JSON_BODY_LIMIT,
    };
    next.run(request.map(|body| Body::new(Limited::new(body, limit))))
        .await
}

/// A caller's `X-Request-Id` is kept only if it is one header of 1 to 128 visible ASCII
/// characters; otherwise it is dropped and a new id is made (it is echoed and logged).
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let name = HeaderName::from_static("x-request-id");
    let values: Vec<&HeaderValue> = request.headers().get_all(&name).iter().collect();
    let usable = match values.as_slice() {
        [] => true,
        [one] => (1..=128).contains(&one.len()) && one.as_bytes().iter().all(u8::is_ascii_graphic),
        _ => false,
    };
    if !usable {
        request.headers_mut().remove(&name);
    }
    request
}

/// Serves `/metrics` without a token on `listener` (`METRICS_ADDR`, loopback by default,
/// for a scraper inside the network) until `shutdown`.
pub async fn serve_metrics(listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(crate::routes::health::metrics_text),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(HeaderName::from_static("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

async fn unknown_route() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// Errors produced below our handlers (timeouts, limits) come without a body; give them
/// the same problem+json shape as every other error.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
    // The web pages answer their errors with a page of their own.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method",
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        s if s.is_server_error() => ("internal", "something went wrong on our side"),
        _ => ("bad_request", "the request could not be handled"),
    };
    let mut replacement = ApiError::new(status, code, detail).into_response();
    // Keep headers the inner layer set (Allow on 405, request id, ...), but not the body's.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().insert(name, value.clone());
        }
    }
    replacement
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting and
/// gives in-flight requests up to `grace` to finish.
///
/// The accept loop is ours (not `axum::serve`) to give hyper a timer: request headers
/// must arrive within `HEADER_READ_TIMEOUT_SECONDS` (slow-loris clients are cut off) and
/// each connection is tuned (TCP_NODELAY, optional SO_SNDBUF).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    settings: &Settings,
) -> io::Result<()> {
    let grace = settings.shutdown_grace;
    let send_buffer = settings.tcp_send_buffer;
    let header_read_timeout = settings.header_read_timeout;
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tune(&tcp, send_buffer);
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request.map(Body::new)
                });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: draining in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    Ok(())
}

fn tune(tcp: &tokio::net::TcpStream, send_buffer: Option<usize>) {
    // Offers and claims are small messages where latency matters more than batching.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    // A cap on what the kernel holds for a client that stopped reading (otherwise
    // autotuned up to megabytes per connection).
    if let Some(bytes) = send_buffer
        && let Err(error) = socket2::SockRef::from(tcp).set_send_buffer_size(bytes)
    {
        tracing::debug!(%error, "could not set SO_SNDBUF");
    }
}

/// Starts the background work: automatic credential checks, registry re-checks, the
/// expiry sweeper and the clean-up of sign-in state. Every task stops when `shutdown` fires.
pub fn spawn_background(
    state: &AppState,
    settings: &Settings,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    // Several checkers: a slow registry answer holds up one credential, not the queue.
    for _ in 0..settings.verification_checkers {
        tracker.spawn(state.verification.clone().run_checker(shutdown.clone()));
    }
    tracker.spawn(
        state
            .verification
            .clone()
            .run_sweeper(settings.verification_sweep_interval, shutdown.clone()),
    );
    tracker.spawn(state.verification.clone().run_rechecker(shutdown.clone()));
    tracker.spawn(state.matching.clone().run_escalation(shutdown.clone()));
    tracker.spawn(
        state
            .matching
            .clone()
            .run_no_show_detector(shutdown.clone()),
    );
    tracker.spawn(
        state
            .matching
            .clone()
            .run_favourites_windows(shutdown.clone()),
    );
    tracker.spawn(
        state
            .matching
            .clone()
            .run_timesheet_auto_approval(shutdown.clone()),
    );
    // Pushes: every node plans (one at a time, under the cursor's lock), sends and keeps
    // its presence current.
    tracker.spawn(state.push.clone().run_planner(shutdown.clone()));
    for _ in 0..state.push.senders() {
        tracker.spawn(state.push.clone().run_sender(shutdown.clone()));
    }
    tracker.spawn(
        state
            .push
            .clone()
            .run_presence(state.hub.clone(), shutdown.clone()),
    );
    let state = state.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            state.ip_limits.prune();
            if let Err(error) = crate::idempotency::prune(&state.pool).await {
                tracing::warn!(%error, "pruning idempotency keys failed");
            }
            match state.hub.prune_history().await {
                Ok(rows) => tracing::debug!(rows, "pruned delivered real-time history"),
                Err(error) => tracing::warn!(%error, "pruning real-time history failed"),
            }
            if let Err(error) = state.login_backoff.prune().await {
                tracing::warn!(%error, "pruning login failures failed");
            }
            if let Err(error) = state.web_sessions.prune().await {
                tracing::warn!(%error, "pruning web sessions failed");
            }
            if let Err(error) = state.push.prune().await {
                tracing::warn!(%error, "pruning push jobs and presence failed");
            }
            if let Err(error) = state.tickets.prune().await {
                tracing::warn!(%error, "pruning WebSocket tickets failed");
            }
            let codes = state.otp.prune().await;
            let tokens = state.refresh.prune().await;
            match (codes, tokens) {
                (Ok(codes), Ok(tokens)) => {
                    tracing::debug!(codes, tokens, "pruned expired sign-in state")
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "pruning sign-in state failed")
                }
            }
        }
    });
}
