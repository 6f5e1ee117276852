//! GDAL's error messages, recorded per thread: the one GDAL error handler of the process.
//!
//! GDAL reports through one process-wide handler, and a failed call often emits several
//! messages: the first names the cause (`LZWDecode:Not enough data at scanline 32`,
//! `JPEGLib:Not a JPEG file`), the last only the consequence (`IReadBlock failed ...`), and the
//! `gdal` crate's error keeps only the last. The handler installed here appends each message to
//! the calling thread's list (at most [`MAX_MESSAGES`] between two takes) and logs it at debug
//! level instead of GDAL's default stderr printing. Every user of GDAL in the fleet goes through
//! it: [`catch`] around one call, or [`clear`] and [`take`] around a longer read.

use gdal::errors::CplErrType;
use std::cell::RefCell;
use std::sync::Once;

/// Messages kept per thread between two takes (a failing read emits a handful).
pub const MAX_MESSAGES: usize = 32;

/// One message GDAL raised on this thread.
#[derive(Debug, Clone, PartialEq)]
pub struct GdalMessage {
    /// `CE_Failure` or `CE_Fatal` (else a warning or a debug message).
    pub failure: bool,
    /// GDAL's error number (`CPLE_*`).
    pub number: i32,
    /// The text.
    pub text: String,
}

thread_local! {
    static MESSAGES: RefCell<Vec<GdalMessage>> = const { RefCell::new(Vec::new()) };
}

static INSTALL: Once = Once::new();

fn handler(class: CplErrType, number: i32, text: &str) {
    let failure = matches!(class, CplErrType::Failure | CplErrType::Fatal);
    tracing::debug!(target: "gdal", ?class, number, "{text}");
    MESSAGES.with(|messages| {
        let mut messages = messages.borrow_mut();
        if messages.len() < MAX_MESSAGES {
            messages.push(GdalMessage { failure, number, text: text.to_owned() });
        }
    });
}

/// Installs the handler (once per process) and forgets this thread's recorded messages: call
/// before a read whose messages [`take`] then returns.
pub fn clear() {
    INSTALL.call_once(|| gdal::config::set_error_handler(handler));
    MESSAGES.with(|messages| messages.borrow_mut().clear());
}

/// This thread's messages since [`clear`], in order.
pub fn take() -> Vec<GdalMessage> {
    MESSAGES.with(|messages| std::mem::take(&mut *messages.borrow_mut()))
}

/// Runs `f`, returning its result and the texts of the GDAL messages it emitted on this thread,
/// in order.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    clear();
    let result = f();
    (result, take().into_iter().map(|m| m.text).collect())
}

/// One readable reason from the caught `messages` (or, when none were caught, the `gdal`
/// crate's `fallback`): GDAL's generic follow-ups are dropped when a specific message precedes
/// them, and the local path (a scratch file, meaningless to whoever reads the error) is removed.
pub(crate) fn reason(messages: &[String], fallback: Option<&gdal::errors::GdalError>, path: &str) -> String {
    let generic = |m: &str| m.contains("IReadBlock failed") || m.starts_with("TIFFReadEncoded");
    let mut kept: Vec<&String> = messages.iter().filter(|m| !generic(m)).collect();
    if kept.is_empty() {
        kept = messages.iter().collect();
    }
    let text = if kept.is_empty() {
        match fallback {
            Some(gdal::errors::GdalError::CplError { msg, .. }) | Some(gdal::errors::GdalError::NullPointer { msg, .. }) if !msg.is_empty() => {
                msg.clone()
            }
            Some(other) => other.to_string(),
            None => "GDAL gave no reason".to_owned(),
        }
    } else {
        kept.iter().map(|m| m.as_str()).collect::<Vec<_>>().join("; ")
    };
    strip_path(&text, path)
}

fn strip_path(text: &str, path: &str) -> String {
    if path.is_empty() {
        return text.to_owned();
    }
    text.replace(&format!(":{path}: "), ": ")
        .replace(&format!("{path}: "), "")
        .replace(&format!("{path}, "), "")
        .replace(&format!("{path}:"), "")
        .replace(path, "the file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_follow_ups_and_paths_are_dropped() {
        let path = "/tmp/scratch/image";
        let messages = [
            "LZWDecode:Not enough data at scanline 32 (short 28 bytes)".to_owned(),
            "TIFFReadEncodedTile() failed.".to_owned(),
            format!("{path}, band 1: IReadBlock failed at X offset 2, Y offset 0: TIFFReadEncodedTile() failed."),
        ];
        assert_eq!(reason(&messages, None, path), "LZWDecode:Not enough data at scanline 32 (short 28 bytes)");
        let header = [format!("{path}: TIFFFetchDirectory:{path}: Can not read TIFF directory count")];
        assert_eq!(reason(&header, None, path), "TIFFFetchDirectory: Can not read TIFF directory count");
        assert_eq!(reason(&[format!("{path}:Using code not yet in table")], None, path), "Using code not yet in table");
        assert_eq!(reason(&[], None, path), "GDAL gave no reason");
    }
}
