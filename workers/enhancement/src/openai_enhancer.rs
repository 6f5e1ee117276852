//! The OpenAI enhancer: an image edit through `async-openai` against `OPENAI_BASE_URL` (OpenAI
//! or any compatible server).
//!
//! - Before sending, the image is fitted into a square canvas (the API wants a square PNG under
//!   4 MB), padded with its mean colour, and shrunk until the PNG is small enough. The
//!   placement is kept so the answer can be cropped back to the source's aspect ratio and
//!   resized to the requested output size.
//! - `async-openai`'s own retry layer is replaced by a plain transport, so Temporal's retry
//!   policy (with its backoff and attempt count, visible in the history) is the only one.
//! - The multipart request is built here (the crate's `byot` hook) because the crate's own
//!   form sends the image part without a content type, which the GPT image models refuse.
//! - Errors: 401/403 (key), other 4xx (bad request, content policy) are non-retryable and carry
//!   the API's message; 408, 409, 429, 5xx and network faults are retried. The key never
//!   appears in a message: the exact key and anything shaped like one are masked.

use crate::settings::OpenAiEndpoint;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::traits::AsyncTryFrom;
use base64::Engine;
use contracts::ObjectRef;
use contracts::enhancement::{Dimensions, OpenAiParams, parse_size};
use fleet::failure;
use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgba, RgbaImage};
use serde::Deserialize;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;

/// Largest PNG the images edit API accepts for the older models (the GPT image models take
/// more; staying under this works for both).
pub const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;

/// Where the source sits inside the square canvas that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Side of the square canvas.
    pub canvas: u32,
    /// Left edge of the image.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width of the image on the canvas.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The PNG to send and where the image sits on it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Square RGBA PNG, under [`MAX_UPLOAD_BYTES`].
    pub png: Vec<u8>,
    /// Placement of the source on it.
    pub placement: Placement,
}

/// Fits `image` into a square canvas no larger than the requested output side, shrinking until
/// the PNG is under [`MAX_UPLOAD_BYTES`].
pub fn prepare(image: &DynamicImage, params: &OpenAiParams) -> Result<Prepared, String> {
    let requested = if params.size == "auto" { 1024 } else { parse_size(&params.size).map(|d| d.width.max(d.height))? };
    let natural = image.width().max(image.height());
    let mut side = requested.min(natural).max(1);
    loop {
        let prepared = render_canvas(image, side)?;
        if prepared.png.len() < MAX_UPLOAD_BYTES {
            return Ok(prepared);
        }
        if side <= 256 {
            return Err(format!("cannot bring the image under {MAX_UPLOAD_BYTES} bytes as PNG"));
        }
        side = (side * 3 / 4).max(256);
    }
}

fn render_canvas(image: &DynamicImage, side: u32) -> Result<Prepared, String> {
    let (w, h) = (image.width(), image.height());
    let scale = side as f64 / w.max(h) as f64;
    let width = ((w as f64 * scale).round() as u32).clamp(1, side);
    let height = ((h as f64 * scale).round() as u32).clamp(1, side);
    let rgba = image.to_rgba8();
    let fitted = if (width, height) == (w, h) { rgba } else { imageops::resize(&rgba, width, height, FilterType::Lanczos3) };
    // Opaque padding in the image's mean colour: transparent pixels would be read as "paint
    // here" by the edit endpoint, and black bars would skew its exposure correction.
    let mean = mean_colour(&fitted);
    let mut canvas = RgbaImage::from_pixel(side, side, mean);
    let (x, y) = ((side - width) / 2, (side - height) / 2);
    imageops::replace(&mut canvas, &fitted, x as i64, y as i64);
    for pixel in canvas.pixels_mut() {
        pixel.0[3] = 255;
    }
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(canvas).write_to(&mut png, image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(Prepared { png: png.into_inner(), placement: Placement { canvas: side, x, y, width, height } })
}

fn mean_colour(image: &RgbaImage) -> Rgba<u8> {
    let mut sum = [0u64; 3];
    for p in image.pixels() {
        for (total, value) in sum.iter_mut().zip(p.0) {
            *total += value as u64;
        }
    }
    let n = (image.width() as u64 * image.height() as u64).max(1);
    Rgba([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8, 255])
}

/// Crops the API's answer back to where the source was placed and resizes it to `output`.
pub fn finish(answer: &DynamicImage, placement: Placement, output: Dimensions) -> DynamicImage {
    let sx = answer.width() as f64 / placement.canvas as f64;
    let sy = answer.height() as f64 / placement.canvas as f64;
    let x = ((placement.x as f64 * sx).round() as u32).min(answer.width() - 1);
    let y = ((placement.y as f64 * sy).round() as u32).min(answer.height() - 1);
    let width = ((placement.width as f64 * sx).round() as u32).clamp(1, answer.width() - x);
    let height = ((placement.height as f64 * sy).round() as u32).clamp(1, answer.height() - y);
    let cropped = answer.crop_imm(x, y, width, height);
    if (width, height) == (output.width, output.height) { cropped } else { cropped.resize_exact(output.width, output.height, FilterType::Lanczos3) }
}

/// The multipart body of one images edit request.
#[derive(Debug, Clone)]
struct EditForm {
    png: Arc<Vec<u8>>,
    params: OpenAiParams,
}

impl AsyncTryFrom<EditForm> for reqwest::multipart::Form {
    type Error = OpenAIError;

    async fn try_from(form: EditForm) -> Result<Self, Self::Error> {
        let image =
            reqwest::multipart::Part::bytes(form.png.as_ref().clone()).file_name("image.png").mime_str("image/png").map_err(OpenAIError::Reqwest)?;
        let mut body = reqwest::multipart::Form::new()
            .part("image", image)
            .text("model", form.params.model.clone())
            .text("prompt", form.params.prompt.clone())
            .text("n", "1")
            .text("size", form.params.size.clone());
        // The retired DALL-E models answer with a URL unless told otherwise; the GPT image
        // models always answer in base64 and refuse the parameter.
        if form.params.model.starts_with("dall-e") {
            body = body.text("response_format", "b64_json");
        }
        Ok(body)
    }
}

#[derive(Debug, Deserialize)]
struct EditResponse {
    #[serde(default)]
    data: Vec<EditedImage>,
}

#[derive(Debug, Deserialize)]
struct EditedImage {
    b64_json: Option<String>,
    url: Option<String>,
}

/// A client of one OpenAI-compatible endpoint.
pub struct OpenAiEnhancer {
    client: Client<OpenAIConfig>,
    http: reqwest::Client,
    endpoint: OpenAiEndpoint,
}

impl std::fmt::Debug for OpenAiEnhancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEnhancer").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl OpenAiEnhancer {
    /// A client for `endpoint`, without retries of its own.
    pub fn new(endpoint: &OpenAiEndpoint) -> anyhow::Result<Self> {
        // reqwest is built without a bundled crypto provider; the fleet uses ring everywhere.
        // An error only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).timeout(endpoint.timeout).build()?;
        let config = OpenAIConfig::new().with_api_key(endpoint.api_key.expose()).with_api_base(endpoint.base_url.clone());
        let client = Client::build(http.clone(), config).with_http_service(ReqwestService::new(http.clone()));
        Ok(Self { client, http, endpoint: endpoint.clone() })
    }

    /// Sends one edit of `png` for `subject` (the source URI, named in every error) and returns
    /// the bytes of the image in the answer.
    pub async fn edit(&self, subject: &ObjectRef, png: Vec<u8>, params: &OpenAiParams) -> Result<Vec<u8>, ActivityError> {
        if self.endpoint.api_key.is_empty() && self.endpoint.is_openai() {
            return Err(failure::rejected(subject, "OPENAI_API_KEY is not set on the enhancement worker (ENHANCER=openai needs it)"));
        }
        let form = EditForm { png: Arc::new(png), params: params.clone() };
        let response: EditResponse = self.client.images().edit_byot(form).await.map_err(|e| self.classify(subject, e))?;
        let first = response.data.into_iter().next().ok_or_else(|| failure::transient(subject, "the images API answered with no image"))?;
        match (first.b64_json, first.url) {
            (Some(b64), _) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| failure::transient(subject, format!("the images API answered with invalid base64: {e}"))),
            (None, Some(url)) => self.download(subject, &url).await,
            (None, None) => Err(failure::transient(subject, "the images API answered with neither b64_json nor url")),
        }
    }

    async fn download(&self, subject: &ObjectRef, url: &str) -> Result<Vec<u8>, ActivityError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failure::transient(subject, format!("fetching the edited image: {}", self.redact(&e.to_string()))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failure::transient(subject, format!("fetching the edited image: HTTP {status}")));
        }
        let bytes = response.bytes().await.map_err(|e| failure::transient(subject, format!("fetching the edited image: {e}")))?;
        Ok(bytes.to_vec())
    }

    fn classify(&self, subject: &ObjectRef, error: OpenAIError) -> ActivityError {
        match error {
            OpenAIError::ApiError(api) => {
                let status = api.status_code.as_u16();
                let message = self.redact(&api.api_error.to_string());
                match status {
                    401 | 403 => failure::rejected(subject, format!("OpenAI refused the credentials (HTTP {status}): {message}")),
                    408 | 409 | 429 | 500..=599 => {
                        failure::transient(subject, format!("OpenAI is unavailable or throttling (HTTP {status}): {message}"))
                    }
                    400..=499 => failure::rejected(subject, format!("OpenAI rejected the edit (HTTP {status}): {message}")),
                    _ => failure::transient(subject, format!("OpenAI answered HTTP {status}: {message}")),
                }
            }
            // `{:#}` prints the whole chain: reqwest's own message leaves out the cause.
            OpenAIError::Reqwest(e) => {
                failure::transient(subject, format!("OpenAI request failed: {}", self.redact(&format!("{:#}", anyhow::Error::from(e)))))
            }
            OpenAIError::JSONDeserialize(e, body) => {
                let excerpt: String = body.chars().take(300).collect();
                failure::transient(subject, format!("unreadable answer from the images API ({e}): {}", self.redact(&excerpt)))
            }
            OpenAIError::InvalidArgument(message) => failure::invalid_input(subject, self.redact(&message)),
            other => failure::transient(subject, format!("OpenAI request failed: {}", self.redact(&other.to_string()))),
        }
    }

    fn redact(&self, text: &str) -> String {
        redact(text, self.endpoint.api_key.expose())
    }
}

/// Masks `key` and anything shaped like an OpenAI key (`sk-...`, which the API echoes
/// partially in its 401 message).
pub fn redact(text: &str, key: &str) -> String {
    let text = if key.len() >= 4 { text.replace(key, "***") } else { text.to_owned() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("sk-") {
        out.push_str(&rest[..at]);
        out.push_str("sk-***");
        let tail = &rest[at + 3..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};
    use std::time::Duration;

    #[test]
    fn api_errors_map_to_retryable_or_not() {
        use async_openai::error::{ApiError, ApiErrorResponse};
        use fleet::config::Secret;
        let key = "sk-live-SECRET-0001";
        let endpoint = OpenAiEndpoint { api_key: Secret::new(key), base_url: "http://127.0.0.1:9/v1".into(), timeout: Duration::from_secs(5) };
        let enhancer = OpenAiEnhancer::new(&endpoint).unwrap();
        let subject = ObjectRef::new("fleet-inputs", "a.png").unwrap();
        for (status, retryable, kind) in [
            (401, false, "Rejected"),
            (403, false, "Rejected"),
            (400, false, "Rejected"),
            (404, false, "Rejected"),
            (408, true, "Transient"),
            (429, true, "Transient"),
            (500, true, "Transient"),
            (503, true, "Transient"),
        ] {
            let error = OpenAIError::ApiError(ApiErrorResponse {
                status_code: reqwest::StatusCode::from_u16(status).unwrap(),
                api_error: ApiError { message: format!("Incorrect API key provided: {key}"), ..Default::default() },
            });
            let ActivityError::Application(failure) = enhancer.classify(&subject, error) else { panic!("{status}: not an application failure") };
            assert_eq!(failure.is_non_retryable(), !retryable, "HTTP {status}");
            assert_eq!(failure.type_name(), Some(kind), "HTTP {status}");
            let message = failure.source_error().to_string();
            assert!(message.contains("s3://fleet-inputs/a.png") && message.contains("Incorrect API key provided"), "{message}");
            assert!(!message.contains("SECRET"), "HTTP {status}: {message}");
        }
    }

    #[test]
    fn keys_are_masked() {
        let key = "sk-proj-abcdefghijklmnop1234";
        let message = format!("Incorrect API key provided: sk-proj-****************1234. Yours: {key}.");
        let clean = redact(&message, key);
        assert!(!clean.contains("1234"), "{clean}");
        assert!(!clean.contains("abcdefgh"), "{clean}");
        assert!(clean.starts_with("Incorrect API key provided: sk-***."), "{clean}");
        assert_eq!(redact("nothing secret here", ""), "nothing secret here");
    }

    #[test]
    fn prepare_makes_a_square_png_and_finish_undoes_the_padding() {
        let source = DynamicImage::ImageRgb8(RgbImage::from_fn(300, 150, |x, _| Rgb([(x % 256) as u8, 80, 40])));
        let params = OpenAiParams { size: "256x256".into(), ..Default::default() };
        let prepared = prepare(&source, &params).unwrap();
        let sent = image::load_from_memory(&prepared.png).unwrap();
        assert_eq!((sent.width(), sent.height()), (256, 256));
        assert!(prepared.png.len() < MAX_UPLOAD_BYTES);
        assert_eq!(prepared.placement, Placement { canvas: 256, x: 0, y: 64, width: 256, height: 128 });
        // An answer at another size (the API may answer 1024x1024 to a 256 canvas).
        let answer = sent.resize_exact(1024, 1024, FilterType::Nearest);
        let out = finish(&answer, prepared.placement, Dimensions { width: 300, height: 150 });
        assert_eq!((out.width(), out.height()), (300, 150));
        let middle = out.to_rgb8().get_pixel(150, 75).0;
        assert!((middle[1] as i32 - 80).abs() <= 3 && (middle[2] as i32 - 40).abs() <= 3, "{middle:?}");
    }

    #[test]
    fn noisy_large_images_are_shrunk_under_the_limit() {
        let noisy = DynamicImage::ImageRgb8(RgbImage::from_fn(1600, 1600, |x, y| {
            let h = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)).wrapping_mul(2246822519);
            Rgb([(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8])
        }));
        let params = OpenAiParams { size: "1536x1024".into(), ..Default::default() };
        let prepared = prepare(&noisy, &params).unwrap();
        assert!(prepared.png.len() < MAX_UPLOAD_BYTES);
        assert!(prepared.placement.canvas < 1536, "a 1536 canvas of noise is over 4 MB");
    }
}
