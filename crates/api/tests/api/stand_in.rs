//! Stand-ins for the services Shiftwire calls out to (a licence registry, an identity
//! service), each an axum router the test writes.

/// Serves `router` on an ephemeral port of 127.0.0.1; the URL of `path` on it.
pub(crate) async fn serve(router: axum::Router, path: &str) -> reqwest::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}{path}").parse().expect("url")
}
