//! The baseline: a bare axum handler that parses the same JSON bodies and
//! answers 200 — what the machine can do for HTTP + JSON alone, so the
//! product's figures can be read as a ratio.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Router;

async fn accept(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

pub async fn serve() -> std::io::Result<()> {
    let app = Router::new().fallback(accept);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
