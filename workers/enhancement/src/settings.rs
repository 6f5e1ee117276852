//! The enhancement worker's own settings: how to reach OpenAI and how large an input it
//! decodes (temporary files go to the fleet's scratch root, `ENHANCEMENT_SCRATCH_DIR`). (What to do to an image travels in the request; see
//! `contracts::enhancement`.) Every bad value is an error at start naming the variable.

use fleet::ConfigError;
use fleet::config::{Env, Secret};
use std::time::Duration;

/// OpenAI's public endpoint, the default `OPENAI_BASE_URL`.
pub const OPENAI_API_BASE: &str = "https://api.openai.com/v1";

/// How to reach an OpenAI-compatible images API.
#[derive(Debug, Clone)]
pub struct OpenAiEndpoint {
    /// `OPENAI_API_KEY` (may be empty for a compatible server that needs none).
    pub api_key: Secret,
    /// `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// `OPENAI_TIMEOUT_SECS`: one request, upload to last byte of the answer.
    pub timeout: Duration,
}

impl OpenAiEndpoint {
    /// True when requests go to OpenAI itself, which always needs a key.
    pub fn is_openai(&self) -> bool {
        url::Url::parse(&self.base_url).ok().and_then(|u| u.host_str().map(|h| h.ends_with("openai.com"))).unwrap_or(false)
    }
}

/// Everything the worker reads from its environment.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `ENHANCEMENT_MAX_INPUT_PIXELS`: larger sources are refused before decoding.
    pub max_input_pixels: u64,
    /// The OpenAI endpoint.
    pub openai: OpenAiEndpoint,
}

impl WorkerSettings {
    /// Reads the settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_input_pixels: u64 = env.parse("ENHANCEMENT_MAX_INPUT_PIXELS", 100_000_000)?;
        if max_input_pixels == 0 {
            return Err(ConfigError::Invalid { var: "ENHANCEMENT_MAX_INPUT_PIXELS".into(), reason: "must be positive".into() });
        }
        let base_url = env.string("OPENAI_BASE_URL", OPENAI_API_BASE).trim_end_matches('/').to_owned();
        let parsed =
            url::Url::parse(&base_url).map_err(|e| ConfigError::Invalid { var: "OPENAI_BASE_URL".into(), reason: format!("{base_url:?} ({e})") })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(ConfigError::Invalid { var: "OPENAI_BASE_URL".into(), reason: format!("{base_url:?} is not an http(s) URL") });
        }
        Ok(Self {
            max_input_pixels,
            openai: OpenAiEndpoint {
                api_key: Secret::new(env.string("OPENAI_API_KEY", "")),
                base_url,
                timeout: env.seconds("OPENAI_TIMEOUT_SECS", Duration::from_secs(300))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>())
    }

    #[test]
    fn defaults_and_values() {
        let s = WorkerSettings::from_env(&env(&[("OPENAI_API_KEY", "sk-marker-123")])).unwrap();
        assert_eq!(s.openai.base_url, OPENAI_API_BASE);
        assert!(s.openai.is_openai());
        assert!(!format!("{s:?}").contains("sk-marker-123"), "the key never prints");
        let custom = WorkerSettings::from_env(&env(&[("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")])).unwrap();
        assert_eq!(custom.openai.base_url, "http://127.0.0.1:9/v1");
        assert!(!custom.openai.is_openai());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("OPENAI_BASE_URL", "not a url"),
            ("OPENAI_BASE_URL", "ftp://x/v1"),
            ("OPENAI_TIMEOUT_SECS", "0"),
            ("ENHANCEMENT_MAX_INPUT_PIXELS", "-1"),
        ] {
            let err = WorkerSettings::from_env(&env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }
}
