//! EXIF tags written and read back by ExifTool (Debian `libimage-exiftool-perl`) at test time:
//! the capture times a reader must report, as ExifTool reads them from the same file.
//!
//! ExifTool's names differ from the EXIF specification's in one place that matters here: IFD0
//! `DateTime` (tag 0x0132) is ExifTool's `ModifyDate` (ExifTool's `-DateTime` is XMP's
//! `tiff:DateTime`, not the EXIF tag). `SubSecDateTimeOriginal` and `SubSecModifyDate` are
//! ExifTool's own composition of a date-time with its sub-seconds and offset.

use anyhow::{Context, ensure};
use std::path::Path;
use std::process::Command;

/// Runs `exiftool -q -overwrite_original <assignments> <path>`, e.g. with
/// `["-DateTimeOriginal=2024:06:01 10:15:30", "-SubSecTimeOriginal=123"]`.
pub fn write_tags(path: &Path, assignments: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("exiftool").args(["-q", "-overwrite_original"]).args(assignments).arg(path).output().context("running exiftool")?;
    ensure!(output.status.success(), "exiftool {assignments:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

/// A capture time as ExifTool reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureTime {
    /// `DateTimeOriginal` as ExifTool prints it (`YYYY:MM:DD HH:MM:SS`), when present.
    pub date_time_original: Option<String>,
    /// The capture time ExifTool composes, in RFC 3339 form: `SubSecDateTimeOriginal` (or
    /// `DateTimeOriginal` alone), else `SubSecModifyDate` (or `ModifyDate` alone), with the
    /// date's colons and the space turned into `-` and `T`.
    pub rfc3339: Option<String>,
    /// `DateTimeOriginal` or `DateTime` (IFD0, ExifTool's `ModifyDate`): where it came from.
    pub source: Option<&'static str>,
}

/// Reads the capture-time tags of `path` with `exiftool -json`.
pub fn capture_time(path: &Path) -> anyhow::Result<CaptureTime> {
    let output = Command::new("exiftool")
        .args([
            "-json",
            "-DateTimeOriginal",
            "-SubSecTimeOriginal",
            "-OffsetTimeOriginal",
            "-ModifyDate",
            "-SubSecTime",
            "-OffsetTime",
            "-SubSecDateTimeOriginal",
            "-SubSecModifyDate",
        ])
        .arg(path)
        .output()
        .context("running exiftool")?;
    ensure!(output.status.success(), "exiftool -json {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let tags = parsed.get(0).context("exiftool printed no file")?;
    // ExifTool prints numeric-looking values as JSON numbers.
    let text = |name: &str| {
        tags.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let rfc3339 = |exiftool: String| {
        let mut chars: Vec<char> = exiftool.chars().collect();
        for (at, with) in [(4, '-'), (7, '-'), (10, 'T')] {
            if let Some(c) = chars.get_mut(at) {
                *c = with;
            }
        }
        chars.into_iter().collect::<String>()
    };
    let date_time_original = text("DateTimeOriginal");
    let (composed, source) = if date_time_original.is_some() {
        (text("SubSecDateTimeOriginal").or_else(|| date_time_original.clone()), Some("DateTimeOriginal"))
    } else if let Some(modify) = text("ModifyDate") {
        (text("SubSecModifyDate").or(Some(modify)), Some("DateTime"))
    } else {
        (None, None)
    };
    Ok(CaptureTime { date_time_original, rfc3339: composed.map(rfc3339), source })
}
