//! A stand-in for OpenAI's images edit endpoint, served over HTTP by the test process, for the
//! tests that run the enhancement worker with `ENHANCER=openai` (`OPENAI_BASE_URL` points here).
//!
//! It answers like the real API: a request carrying the accepted key gets `200` with one
//! base64 PNG; any other key gets `401` with OpenAI's error body, which, like OpenAI's own,
//! quotes the key it was given (so the tests can check the worker never repeats it). Every
//! request is recorded.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// One request as the API saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The request path (`/v1/images/edits`).
    pub path: String,
    /// The `Authorization` header as sent.
    pub authorization: String,
    /// Size of the multipart body.
    pub body_bytes: usize,
}

/// A running images API. Dropping it stops serving.
pub struct ImagesApi {
    /// `http://127.0.0.1:<port>/v1`, the worker's `OPENAI_BASE_URL`.
    pub base_url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    server: tokio::task::JoinHandle<()>,
}

impl ImagesApi {
    /// Serves on a free port, accepting `accepted_key` (a `Bearer` token) and refusing every
    /// other key with a 401.
    pub async fn start(accepted_key: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let accepted = Arc::new(format!("Bearer {accepted_key}"));
        let edited = Arc::new(edited_png()?);
        let shared = seen.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, accepted, edited) = (shared.clone(), accepted.clone(), edited.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(seen.clone(), accepted.clone(), edited.clone(), request));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Ok(Self { base_url, seen, server })
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ImagesApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The image every accepted edit answers with: a 256x256 diagonal gradient (the worker crops
/// and resizes it to the requested output, as it does a real answer).
fn edited_png() -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, y as u8, ((x + y) / 2) as u8]));
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image).write_to(&mut png, image::ImageFormat::Png)?;
    Ok(png.into_inner())
}

async fn answer(
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    accepted: Arc<String>,
    edited: Arc<Vec<u8>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(SeenRequest { path, authorization: authorization.clone(), body_bytes: body.len() });
    let (status, json) = if authorization == *accepted {
        let b64 = base64::engine::general_purpose::STANDARD.encode(edited.as_slice());
        (200, serde_json::json!({"created": 1_764_000_000, "data": [{"b64_json": b64}]}))
    } else {
        let presented = authorization.trim_start_matches("Bearer ");
        let message = format!("Incorrect API key provided: {presented}. You can find your API key at https://platform.openai.com/account/api-keys.");
        (401, serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}))
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(response)
}
