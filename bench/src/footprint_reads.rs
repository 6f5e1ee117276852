//! Section `footprint`: what the footprint of a large COG in S3 costs to read. A COG of about
//! 1 GB (uncompressed, with its overviews) made by GDAL is uploaded to the bench's own S3
//! endpoint process; the geolocalization worker's footprint code (GDAL through `/vsis3/`,
//! header only) and the `gdalinfo -json /vsis3/...` CLI (GDAL's defaults) then read it through a
//! proxy that counts every HTTP request and byte. What a download of the whole object costs is
//! the object's size. The worker's read must stay within 1 MB.

use crate::peer::ChildProcess;
use anyhow::Context as _;
use contracts::ObjectRef;
use devstack::ports;
use fleet::Storage;
use fleet::config::{S3Settings, Secret};
use geolocalization::activities::GeolocalizationActivities;
use geolocalization::raster::S3Access;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::proxy::{CountingProxy, Traffic};

/// S3 credentials of the section's endpoint.
const ACCESS_KEY: &str = "bench";
const SECRET_KEY: &str = "bench-secret-key";
/// Most the worker may read for a footprint.
pub const LIMIT_BYTES: u64 = 1024 * 1024;

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct FootprintSettings {
    /// Side of the square COG, pixels (one byte each, plus a third for the overviews).
    pub side: u32,
    /// Footprints read per side, the fastest kept.
    pub repeats: usize,
}

/// One reader's cost.
#[derive(Debug, Clone, Serialize)]
pub struct Reads {
    /// Bytes the endpoint sent (headers included), first read.
    pub bytes: u64,
    /// HTTP requests, first read.
    pub requests: u64,
    /// Wall seconds, fastest read.
    pub seconds: f64,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct FootprintResult {
    /// What was measured.
    pub settings: FootprintSettings,
    /// Size of the COG object.
    pub object_bytes: u64,
    /// The geolocalization worker's footprint code.
    pub worker: Reads,
    /// `gdalinfo -json /vsis3/...`, when the CLI ran.
    pub gdalinfo: Option<Reads>,
    /// The worker stayed within [`LIMIT_BYTES`].
    pub within_limit: bool,
}

/// Runs the section in `dir` (the COG is written there: /dev/shm by default).
pub async fn run(settings: &FootprintSettings, dir: &Path) -> anyhow::Result<FootprintResult> {
    std::fs::create_dir_all(dir)?;
    let cog = make_cog(dir, settings.side).await?;
    let object_bytes = std::fs::metadata(&cog)?.len();
    println!("    COG of {side}x{side} px: {:.2} GB", object_bytes as f64 / 1e9, side = settings.side);

    let s3_exe = std::env::current_exe().context("locating the bench binary")?.with_file_name("bench-s3-endpoint");
    anyhow::ensure!(s3_exe.is_file(), "{} is missing: build it with cargo build --release -p bench (bench/run.sh does)", s3_exe.display());
    let port = ports::free_port()?;
    let args: Vec<String> =
        ["--root", &dir.join("s3").display().to_string(), "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]
            .map(str::to_owned)
            .to_vec();
    let mut s3 = ChildProcess::spawn("S3 endpoint", &s3_exe, &args, &dir.join("s3.log"))?;
    s3.wait_ready(Duration::from_secs(30)).await?;
    let outcome = measure(settings, dir, &cog, object_bytes, port).await;
    s3.stop().await;
    let _ = std::fs::remove_file(&cog);
    let _ = std::fs::remove_dir_all(dir.join("s3"));
    outcome
}

fn s3_settings(endpoint: String) -> S3Settings {
    S3Settings {
        endpoint,
        region: "us-east-1".into(),
        access_key_id: Secret::new(ACCESS_KEY),
        secret_access_key: Secret::new(SECRET_KEY),
        force_path_style: true,
    }
}

async fn measure(settings: &FootprintSettings, dir: &Path, cog: &Path, object_bytes: u64, port: u16) -> anyhow::Result<FootprintResult> {
    let image = ObjectRef::new(contracts::buckets::INPUTS, "bench/footprint/large-cog.tif")?;
    Storage::new(&s3_settings(format!("http://127.0.0.1:{port}"))).put_file(&image, cog, "image/tiff").await?;
    let proxy = CountingProxy::start(([127, 0, 0, 1], port).into()).await?;
    let through_proxy = s3_settings(proxy.endpoint());
    let activities = GeolocalizationActivities::new(Storage::new(&through_proxy), S3Access::new(&through_proxy));

    let repeats = settings.repeats.max(1);
    let mut worker: Option<Reads> = None;
    for _ in 0..repeats {
        let before = proxy.traffic();
        let started = Instant::now();
        let computed = activities.footprint_of(&image).await.map_err(|e| anyhow::anyhow!("footprint of {image}: {e:?}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let used = delta(before, proxy.traffic());
        anyhow::ensure!(computed.georef.cloud_optimized, "{image} was not read as a COG");
        worker = Some(match worker {
            None => Reads { bytes: used.response_bytes, requests: used.requests, seconds },
            Some(first) => Reads { seconds: first.seconds.min(seconds), ..first },
        });
    }
    let worker = worker.context("no footprint read")?;

    let gdalinfo = match gdalinfo_reads(&proxy, &image, repeats, dir).await {
        Ok(reads) => Some(reads),
        Err(e) => {
            println!("    (gdalinfo not measured: {e:#})");
            None
        }
    };
    let within_limit = worker.bytes <= LIMIT_BYTES;
    println!(
        "    footprint: {} bytes in {} requests, {:.3} s (limit {LIMIT_BYTES} bytes: {})",
        worker.bytes,
        worker.requests,
        worker.seconds,
        if within_limit { "ok" } else { "EXCEEDED" }
    );
    Ok(FootprintResult { settings: settings.clone(), object_bytes, worker, gdalinfo, within_limit })
}

fn delta(before: Traffic, after: Traffic) -> Traffic {
    Traffic {
        requests: after.requests - before.requests,
        rejected: after.rejected - before.rejected,
        response_bytes: after.response_bytes - before.response_bytes,
        request_bytes: after.request_bytes - before.request_bytes,
    }
}

/// The `gdalinfo -json` CLI on the same object through the same proxy, with GDAL's defaults.
async fn gdalinfo_reads(proxy: &CountingProxy, image: &ObjectRef, repeats: usize, dir: &Path) -> anyhow::Result<Reads> {
    let host = proxy.endpoint().trim_start_matches("http://").to_owned();
    let path = format!("/vsis3/{}/{}", image.bucket(), image.key());
    let mut reads: Option<Reads> = None;
    for _ in 0..repeats {
        let before = proxy.traffic();
        let started = Instant::now();
        let output = tokio::process::Command::new("gdalinfo")
            .args(["-json", &path])
            .current_dir(dir)
            .env("AWS_S3_ENDPOINT", &host)
            .env("AWS_HTTPS", "NO")
            .env("AWS_VIRTUAL_HOSTING", "FALSE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .output()
            .await
            .context("running gdalinfo (Debian gdal-bin)")?;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(output.status.success(), "gdalinfo failed: {}", String::from_utf8_lossy(&output.stderr));
        let used = delta(before, proxy.traffic());
        reads = Some(match reads {
            None => Reads { bytes: used.response_bytes, requests: used.requests, seconds },
            Some(first) => Reads { seconds: first.seconds.min(seconds), ..first },
        });
    }
    reads.context("gdalinfo never ran")
}

/// A `side` x `side` uncompressed COG with overviews, in UTM 33N, made by GDAL's CLI.
async fn make_cog(dir: &Path, side: u32) -> anyhow::Result<std::path::PathBuf> {
    let run = |program: &'static str, args: Vec<String>| {
        let dir = dir.to_owned();
        async move {
            let output =
                tokio::process::Command::new(program).args(&args).current_dir(&dir).output().await.with_context(|| format!("running {program}"))?;
            anyhow::ensure!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr));
            anyhow::Ok(())
        }
    };
    let strings = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    run(
        "gdal_create",
        strings(&[
            "-q",
            "-of",
            "GTiff",
            "-outsize",
            "512",
            "512",
            "-bands",
            "1",
            "-burn",
            "90",
            "-a_srs",
            "EPSG:32633",
            "-a_ullr",
            "300000",
            "5100000",
            "409800",
            "4990200",
            "seed.tif",
        ]),
    )
    .await?;
    let side = side.to_string();
    run(
        "gdal_translate",
        strings(&["-q", "-of", "COG", "-co", "COMPRESS=NONE", "-co", "BLOCKSIZE=512", "-outsize", &side, &side, "seed.tif", "large-cog.tif"]),
    )
    .await?;
    let _ = std::fs::remove_file(dir.join("seed.tif"));
    Ok(dir.join("large-cog.tif"))
}
