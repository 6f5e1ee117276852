//! A stand-in for OpenAI's images edit endpoint, served over HTTP by the test process, for the
//! tests that run the enhancement worker with `ENHANCER=openai` (`OPENAI_BASE_URL` points here).
//!
//! It answers like the real API: an edit is `200` with one base64 PNG (the received image
//! inverted, at twice its size), a body without a readable image is OpenAI's `400`, and when
//! the API is started for one key ([`ImagesApi::accepting_only`]) any other key gets `401` with
//! OpenAI's error body, which, like OpenAI's own, quotes the key it was given (so the tests can
//! check the worker never repeats it). Replies can be scripted ([`Reply`]); every request is
//! recorded, its multipart form parsed.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the API answers to a request with an accepted key.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with the received image inverted, at twice its size, as `b64_json`.
    Edited,
    /// An error status with an OpenAI-style error body.
    Error(u16, serde_json::Value),
    /// Never answers (until the client goes away).
    Stall,
}

/// One request as the API saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The request path (`/v1/images/edits`).
    pub path: String,
    /// The `Authorization` header as sent.
    pub authorization: String,
    /// The text fields of the multipart form (model, prompt, size, ...).
    pub fields: HashMap<String, String>,
    /// File name of the `image` part.
    pub image_file_name: Option<String>,
    /// Content type of the `image` part.
    pub image_content_type: Option<String>,
    /// Bytes of the `image` part.
    pub image: Option<Vec<u8>>,
}

struct ApiState {
    /// `Bearer <key>` the API accepts; `None` accepts every key.
    accepted_authorization: Option<String>,
    seen: Mutex<Vec<SeenRequest>>,
    script: Mutex<VecDeque<Reply>>,
}

/// A running images API. Dropping it stops serving.
pub struct ImagesApi {
    /// `http://127.0.0.1:<port>/v1`, the worker's `OPENAI_BASE_URL`.
    pub base_url: String,
    state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl ImagesApi {
    /// Serves on a free port, accepting every key; `script` is answered in order, then
    /// [`Reply::Edited`].
    pub async fn start(script: Vec<Reply>) -> anyhow::Result<Self> {
        Self::serve(None, script).await
    }

    /// Serves on a free port, editing for `key` (a `Bearer` token) and refusing every other
    /// key with a 401.
    pub async fn accepting_only(key: &str) -> anyhow::Result<Self> {
        Self::serve(Some(format!("Bearer {key}")), Vec::new()).await
    }

    async fn serve(accepted_authorization: Option<String>, script: Vec<Reply>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let state = Arc::new(ApiState { accepted_authorization, seen: Mutex::default(), script: Mutex::new(script.into()) });
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { base_url, state, server })
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ImagesApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Reads a request's multipart form into a [`SeenRequest`].
async fn read_request(request: Request<Incoming>) -> SeenRequest {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (path, authorization, content_type) = (request.uri().path().to_owned(), header("authorization"), header("content-type"));
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut seen = SeenRequest { path, authorization, fields: HashMap::new(), image_file_name: None, image_content_type: None, image: None };
    if let Ok(boundary) = multer::parse_boundary(&content_type) {
        let mut multipart = multer::Multipart::new(futures_util::stream::once(async move { Ok::<_, Infallible>(body) }), boundary);
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "image" {
                seen.image_file_name = field.file_name().map(str::to_owned);
                seen.image_content_type = field.content_type().map(|m| m.to_string());
                seen.image = field.bytes().await.ok().map(|b| b.to_vec());
            } else if let Ok(text) = field.text().await {
                seen.fields.insert(name, text);
            }
        }
    }
    seen
}

/// The edit of `image`: inverted, at twice its size, as OpenAI's `200` body; OpenAI's `400`
/// when there is no readable image.
fn edited(image: Option<&[u8]>) -> (u16, serde_json::Value) {
    let Some(Ok(received)) = image.map(image::load_from_memory) else {
        return (
            400,
            serde_json::json!({"error": {"message": "Invalid file 'image': not a PNG", "type": "invalid_request_error", "param": "image", "code": null}}),
        );
    };
    let mut inverted = received.resize_exact(received.width() * 2, received.height() * 2, image::imageops::FilterType::Triangle);
    inverted.invert();
    let mut png = std::io::Cursor::new(Vec::new());
    inverted.write_to(&mut png, image::ImageFormat::Png).expect("encoding a PNG in memory");
    let b64 = base64::engine::general_purpose::STANDARD.encode(png.into_inner());
    (200, serde_json::json!({"created": 1_764_000_000, "data": [{"b64_json": b64}]}))
}

async fn answer(state: Arc<ApiState>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let seen = read_request(request).await;
    let (authorization, image) = (seen.authorization.clone(), seen.image.clone());
    state.seen.lock().unwrap_or_else(|p| p.into_inner()).push(seen);
    let refused = state.accepted_authorization.as_ref().is_some_and(|accepted| *accepted != authorization);
    let (status, json) = if refused {
        let presented = authorization.trim_start_matches("Bearer ");
        let message = format!("Incorrect API key provided: {presented}. You can find your API key at https://platform.openai.com/account/api-keys.");
        (401, serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}))
    } else {
        let reply = state.script.lock().unwrap_or_else(|p| p.into_inner()).pop_front().unwrap_or(Reply::Edited);
        match reply {
            Reply::Edited => edited(image.as_deref()),
            Reply::Error(status, json) => (status, json),
            Reply::Stall => {
                tokio::time::sleep(Duration::from_secs(600)).await;
                (500, serde_json::json!({}))
            }
        }
    };
    let response = Response::builder().status(status).header("content-type", "application/json").body(Full::new(Bytes::from(json.to_string())));
    Ok(response.expect("a response of a status and a JSON body"))
}
