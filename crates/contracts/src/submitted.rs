//! Workflow inputs as any Temporal client sends them: the few fields a person types, strictly
//! parsed (a mistyped or unknown field is an error naming it), completed with the fleet's
//! defaults and checked, so a bad input fails the run on its first task with the field named.
//!
//! A user-started workflow takes a [`Submitted`] request, the raw JSON, which the SDK decodes
//! whatever it holds (a typed input that fails to decode is a workflow task the server retries
//! forever, its cause dropped). Its first step is a local activity (`Resolve<Type>`, declared
//! beside each workflow) running [`Submitted::resolve`]; the resolved request it returns is
//! recorded in the history as the activity's result, so a later release with other defaults
//! replays the run with the request it ran with. Rust clients still send the typed request: the
//! workflow contracts keep it as their input type, and it serializes to the same JSON.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A request as submitted: any JSON, resolved into `T` by the run's first step.
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct Submitted<T> {
    raw: serde_json::Value,
    #[serde(skip)]
    request: PhantomData<fn() -> T>,
}

impl<T> Submitted<T> {
    /// Wraps JSON as a client sent it.
    pub fn from_json(raw: serde_json::Value) -> Self {
        Self { raw, request: PhantomData }
    }

    /// The JSON as sent.
    pub fn raw(&self) -> &serde_json::Value {
        &self.raw
    }
}

impl<T: Serialize> From<T> for Submitted<T> {
    fn from(request: T) -> Self {
        // Serializing the contract types to a JSON value cannot fail: no map has non-string keys.
        Self::from_json(serde_json::to_value(request).expect("contract types serialize to JSON"))
    }
}

impl<T> Clone for Submitted<T> {
    fn clone(&self) -> Self {
        Self::from_json(self.raw.clone())
    }
}

impl<T> fmt::Debug for Submitted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Submitted").field(&self.raw).finish()
    }
}

/// What is wrong with a submitted request: the field, as a path (`source.objects[0].kind`;
/// empty for the input as a whole), and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// Path of the field.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InputError {
    /// An error of `field`.
    pub fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self { field: field.into(), problem: problem.to_string() }
    }

    /// The same error, its field seen from the enclosing object's field `parent`.
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        Self { field, ..self }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.problem) } else { write!(f, "field {}: {}", self.field, self.problem) }
    }
}

/// A request type a client may submit: the checks that parsing alone cannot make.
pub trait Resolve: Serialize + DeserializeOwned {
    /// Checks ranges, names and keys; the error names the field.
    fn check(&self) -> Result<(), InputError>;
}

impl<T: Resolve> Submitted<T> {
    /// Parses the JSON strictly (an unknown field is an error), filling every absent optional
    /// field with its default, and checks the result.
    pub fn resolve(&self) -> Result<T, InputError> {
        if !self.raw.is_object() {
            return Err(InputError::new("", format!("expected a JSON object, got {}", json_kind(&self.raw))));
        }
        let request: T = serde_path_to_error::deserialize(self.raw.clone()).map_err(|e| self.misspelled(&e).unwrap_or_else(|| parse_error(e)))?;
        // Every field of the contract types serializes (absent options as null), so a key of
        // the input that the parsed request does not write back is one no type has.
        let parsed = serde_json::to_value(&request).map_err(|e| InputError::new("", e))?;
        if let Some(field) = first_unknown(&self.raw, &parsed, String::new()) {
            return Err(InputError::new(field, "unknown field (the input's fields are in its published schema: `starter schema <workflow>`)"));
        }
        request.check()?;
        Ok(request)
    }

    /// For a missing field, a key beside it that looks like a misspelling of it (`batchid` for
    /// `batch_id`): the key is what the person typed, so it is what the error names.
    fn misspelled(&self, error: &serde_path_to_error::Error<serde_json::Error>) -> Option<InputError> {
        let problem = error.inner().to_string();
        let missing = problem.strip_prefix("missing field `")?.strip_suffix('`')?;
        let mut object = &self.raw;
        for segment in error.path().iter() {
            object = match segment {
                serde_path_to_error::Segment::Seq { index } => object.get(*index)?,
                serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => object.get(key)?,
                serde_path_to_error::Segment::Unknown => return None,
            };
        }
        let typed = object.as_object()?.keys().find(|key| looks_like(key, missing))?;
        let path = error.path().to_string();
        let field = if path == "." { typed.clone() } else { format!("{path}.{typed}") };
        Some(InputError::new(field, format!("unknown field: did you mean `{missing}`?")))
    }

    /// The request of a run started before requests were resolved: the complete typed request,
    /// parsed as the SDK did then.
    pub fn recorded(&self) -> Result<T, InputError> {
        serde_path_to_error::deserialize(self.raw.clone()).map_err(parse_error)
    }
}

/// Turns a parse error into the field it concerns: a missing field is named by its own path
/// rather than its parent's.
fn parse_error(error: serde_path_to_error::Error<serde_json::Error>) -> InputError {
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let problem = error.into_inner().to_string();
    if let Some(name) = problem.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        return InputError::new(if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }, "missing (this field is required)");
    }
    InputError::new(path, problem)
}

/// The path of the first key of `sent` that `parsed` lacks.
fn first_unknown(sent: &serde_json::Value, parsed: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (sent, parsed) {
        (Object(sent), Object(parsed)) => sent.iter().find_map(|(key, value)| {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            match parsed.get(key) {
                None => Some(field),
                Some(known) => first_unknown(value, known, field),
            }
        }),
        (Array(sent), Array(parsed)) => sent.iter().zip(parsed).enumerate().find_map(|(i, (s, p))| first_unknown(s, p, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Whether `typed` is probably `field` mistyped: the same but for case and separators, or at
/// most two letters off.
fn looks_like(typed: &str, field: &str) -> bool {
    let plain = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<Vec<char>>();
    let (a, b) = (plain(typed), plain(field));
    if a == b {
        return true;
    }
    // Levenshtein distance, one row at a time.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= 2 && typed != field
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Checks an object reference's bucket and key as deserialization does (for prefixes, which
/// deserialize unchecked).
pub fn check_prefix(field: &str, prefix: &crate::object::PrefixRef) -> Result<(), InputError> {
    crate::object::validate_bucket(&prefix.bucket).map_err(|e| InputError::new(format!("{field}.bucket"), e))?;
    let trimmed = prefix.prefix.trim_end_matches('/');
    if !trimmed.is_empty() {
        crate::object::validate_key(trimmed).map_err(|e| InputError::new(format!("{field}.prefix"), e))?;
    }
    Ok(())
}

/// Checks a number is within `range`, naming `field`.
pub fn check_range<N: PartialOrd + fmt::Display>(field: &str, value: N, range: std::ops::RangeInclusive<N>) -> Result<(), InputError> {
    if range.contains(&value) { Ok(()) } else { Err(InputError::new(field, format!("{value} must be within {}..={}", range.start(), range.end()))) }
}

/// Declares the local activity that resolves a workflow's [`Submitted`] request.
#[macro_export]
macro_rules! resolver_contract {
    ($marker:ident = $name:literal, $request:ty) => {
        $crate::activity_contract!(
            /// Resolves the submitted request (strict parse, defaults, checks): the run's first
            /// step, a local activity whose result the history keeps.
            $marker = $name, $crate::submitted::Submitted<$request> => $request
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChecksumRequest;
    use serde_json::json;

    #[test]
    fn fills_defaults_and_names_bad_fields() {
        let ok: Submitted<ChecksumRequest> = Submitted::from_json(json!({"object": {"bucket": "fleet-inputs", "key": "a/b.jpg"}}));
        assert_eq!(ok.resolve().unwrap().activity, crate::settings::ActivitySettings::default());
        let cases = [
            (json!({}), "object", "missing"),
            (json!({"objekt": {}}), "objekt", "did you mean `object`"),
            (json!({"o": {}}), "object", "missing"),
            (json!({"object": {"bucket": "fleet-inputs", "key": "a.jpg"}, "activty": {}}), "activty", "unknown field"),
            (json!({"object": {"bucket": "fleet-inputs", "key": "../a.jpg"}}), "object", "invalid object key"),
            (json!({"object": {"bucket": "fleet-inputs", "key": 3}}), "object.key", "invalid type"),
            (json!([1]), "", "expected a JSON object"),
        ];
        for (input, field, problem) in cases {
            let error = Submitted::<ChecksumRequest>::from_json(input.clone()).resolve().unwrap_err();
            assert_eq!(error.field, field, "{input}: {error}");
            assert!(error.problem.contains(problem), "{input}: {error}");
        }
    }

    #[test]
    fn automation_requests_name_the_field() {
        use crate::automation::AutomationRequest;
        let image = |kind: serde_json::Value| json!({"batch_id": "b1", "source": {"objects": [{"object": {"bucket": "fleet-inputs", "key": "a.jpg"}, "kind": kind}]}});
        let ok = Submitted::<AutomationRequest>::from_json(image(json!("navad"))).resolve().unwrap();
        assert_eq!((ok.output_bucket.as_str(), &ok.settings), (crate::buckets::OUTPUTS, &Default::default()));
        let mut typo = image(json!(null));
        typo["source"]["objects"][0]["kindd"] = json!("navad");
        let mut partial = image(json!(null));
        partial["settings"] = json!({"thresholds": {"min_overall_score": 101.0}});
        let cases = [
            (image(json!("navads")), "source.objects[0].kind", "unknown variant"),
            (typo, "source.objects[0].kindd", "unknown field"),
            (partial, "settings.thresholds.min_overall_score", "within"),
            (json!({"batch_id": "b/1", "source": {"objects": []}}), "batch_id", "invalid batch id"),
            (json!({"batchid": "b1", "source": {"objects": []}}), "batchid", "did you mean `batch_id`"),
            (json!({"batch_id": "b1", "source": {"objects": [{"objct": {}}]}}), "source.objects[0].objct", "did you mean `object`"),
        ];
        for (input, field, problem) in cases {
            let error = Submitted::<AutomationRequest>::from_json(input.clone()).resolve().unwrap_err();
            assert_eq!(error.field, field, "{input}: {error}");
            assert!(error.problem.contains(problem), "{input}: {error}");
        }
    }

    #[test]
    fn typed_requests_round_trip() {
        let request = ChecksumRequest { object: "s3://fleet-inputs/a.jpg".parse().unwrap(), activity: Default::default() };
        assert_eq!(Submitted::from(request.clone()).resolve().unwrap(), request);
        assert_eq!(Submitted::from(request.clone()).recorded().unwrap(), request);
    }
}
