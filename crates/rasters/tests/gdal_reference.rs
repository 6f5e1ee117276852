//! The TIFF path against GDAL's own command line: every variant `gdal_translate` writes from a
//! known 8-bit scene decodes to exactly the pixels `gdal_translate -of PNG` reads from the same
//! file (and, where the variant is lossless, to the scene itself); damaged files fail naming
//! the part that failed.

use image::{DynamicImage, GenericImageView, Limits};
use rasters::{BlockKind, RasterError};
use samples::navad_tiff::{self, Expected};
use std::path::Path;

/// Odd sizes, so the last column and row of blocks are partial.
const SIZE: (u32, u32) = (203, 157);

fn scene() -> image::RgbImage {
    samples::navad::sharp_scene(SIZE.0, SIZE.1)
}

fn unlimited() -> Limits {
    Limits::no_limits()
}

/// The pixels as (color type, raw bytes), for exact comparisons with a readable failure.
fn assert_same_pixels(name: &str, decoded: &DynamicImage, reference: &DynamicImage) {
    assert_eq!(decoded.dimensions(), reference.dimensions(), "{name}: dimensions");
    assert_eq!(decoded.color(), reference.color(), "{name}: colour type");
    let differing = decoded.as_bytes().iter().zip(reference.as_bytes()).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{name}: {differing} bytes differ from the reference");
}

#[test]
fn every_variant_decodes_to_gdals_own_reading_of_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scene = scene();
    for (variant, path) in navad_tiff::write_variants(dir.path(), &scene)? {
        let name = variant.name;
        assert_eq!(rasters::guess_format(&path)?, Some(image::ImageFormat::Tiff), "{name}");
        let header = rasters::tiff::header(&path)?;
        assert_eq!((header.width, header.height), SIZE, "{name}");
        assert_eq!(header.compression, variant.compression, "{name}");
        assert_eq!(header.bits_per_sample, variant.bits, "{name}");
        assert_eq!(rasters::dimensions(&path, image::ImageFormat::Tiff)?, SIZE, "{name}");

        let decoded = rasters::decode(&path, &unlimited())?;
        let reference = navad_tiff::gdal_reference(&path, variant)?;
        assert_same_pixels(name, &decoded, &reference);
        match variant.expected {
            Expected::SourceRgb => assert_same_pixels(name, &decoded, &DynamicImage::ImageRgb8(scene.clone())),
            Expected::SourceChannel(c) => {
                let channel = image::GrayImage::from_fn(SIZE.0, SIZE.1, |x, y| image::Luma([scene.get_pixel(x, y)[c]]));
                assert_same_pixels(name, &decoded, &DynamicImage::ImageLuma8(channel));
            }
            Expected::GdalOnly => {}
            Expected::Near { gain, mean_error } => {
                let source = scene.as_raw();
                let decoded = decoded.to_rgb8();
                let error = decoded.as_raw().iter().zip(source).map(|(&a, &b)| (a as f64 - b as f64 * gain).abs()).sum::<f64>() / source.len() as f64;
                assert!(error < mean_error, "{name}: mean absolute error {error} against the source scene times {gain}");
            }
        }
    }
    Ok(())
}

#[test]
fn jpeg_and_png_still_decode_through_image() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scene = scene();
    let png = dir.path().join("a.png");
    std::fs::write(&png, samples::navad::encode_png(&scene)?)?;
    let jpeg = dir.path().join("a.jpg");
    std::fs::write(&jpeg, samples::navad::encode_jpeg(&scene, None)?)?;
    for path in [png, jpeg] {
        let name = path.display().to_string();
        assert_same_pixels(&name, &rasters::decode(&path, &unlimited())?, &image::open(&path)?);
        assert_eq!(rasters::dimensions(&path, rasters::guess_format(&path)?.unwrap())?, SIZE);
    }
    Ok(())
}

fn decode_error(path: &Path) -> RasterError {
    rasters::decode(path, &unlimited()).expect_err("the file must not decode")
}

#[test]
fn a_garbled_tile_is_named_with_the_codecs_complaint() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let source = navad_tiff::write_source(dir.path(), &scene())?;
    // 32x32 tiles on 203x157: 7 columns of tiles; tile 9 is the third of the second row.
    for (name, codec_word) in [("lzw-predictor-tiles", None), ("ycbcr-jpeg-tiles", Some("JPEG"))] {
        let variant = navad_tiff::variant(name);
        let path = navad_tiff::write_variant(&source, variant, dir.path())?;
        let header = rasters::tiff::header(&path)?;
        let (bw, bh) = header.block_size;
        let columns = SIZE.0.div_ceil(bw);
        let index = columns + 2;
        let garbled = dir.path().join(format!("{name}-garbled.tif"));
        std::fs::write(&garbled, navad_tiff::with_garbled_block(&std::fs::read(&path)?, index as usize)?)?;

        // The directory is intact: the header still reads.
        assert_eq!(rasters::tiff::header(&garbled)?.width, SIZE.0);
        let err = decode_error(&garbled);
        let RasterError::Block { block, band, compression, reason } = &err else { panic!("{name}: {err}") };
        assert_eq!(block.kind, BlockKind::Tile, "{name}: {err}");
        assert_eq!(block.index, u64::from(index), "{name}: {err}");
        assert_eq!((block.columns, block.rows), ((2 * bw, 3 * bw), (bh, 2 * bh)), "{name}: {err}");
        assert_eq!(*band, None, "{name}: pixel-interleaved, all bands decode together: {err}");
        assert_eq!(compression, variant.compression);
        // libtiff's or libjpeg's own words, not GDAL's generic follow-up.
        assert!(!reason.is_empty() && !reason.contains("TIFFReadEncodedTile"), "{name}: {err}");
        if let Some(word) = codec_word {
            assert!(reason.contains(word), "{name}: the codec's own words expected: {err}");
        }
        assert!(!reason.contains(&*garbled.to_string_lossy()), "{name}: the local path leaked: {err}");
        let text = err.to_string();
        assert!(text.starts_with(&format!("cannot decode tile {index} (columns {}..{}, rows {}..{})", 2 * bw, 3 * bw, bh, 2 * bh)), "{text}");
        assert!(err.is_input_fault());
    }
    Ok(())
}

#[test]
fn a_missing_strip_and_a_band_of_a_planar_file_are_named() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let source = navad_tiff::write_source(dir.path(), &scene())?;

    // Striped: cut the file inside its last strip.
    let path = navad_tiff::write_variant(&source, navad_tiff::variant("lzw-strips"), dir.path())?;
    let bytes = std::fs::read(&path)?;
    let ranges = navad_tiff::block_ranges(&bytes)?;
    let &(offset, length) = ranges.last().unwrap();
    let cut = dir.path().join("cut.tif");
    std::fs::write(&cut, &bytes[..(offset + length / 2) as usize])?;
    let err = decode_error(&cut);
    let RasterError::Block { block, .. } = &err else { panic!("{err}") };
    assert_eq!((block.kind, block.index), (BlockKind::Strip, ranges.len() as u64 - 1), "{err}");
    assert_eq!(block.rows.1, SIZE.1, "the last strip ends at the last row: {err}");
    assert!(err.to_string().contains(", compression LZW: "), "{err}");

    // Band-interleaved: the error names the band.
    let path = navad_tiff::write_variant(&source, navad_tiff::variant("deflate-band-interleaved"), dir.path())?;
    let bytes = std::fs::read(&path)?;
    let strips_per_band = navad_tiff::block_ranges(&bytes)?.len() / 3;
    let garbled = dir.path().join("planar-garbled.tif");
    // The first strip of band 2.
    std::fs::write(&garbled, navad_tiff::with_garbled_block(&bytes, strips_per_band)?)?;
    let err = decode_error(&garbled);
    let RasterError::Block { block, band, .. } = &err else { panic!("{err}") };
    assert_eq!((block.kind, block.index, *band), (BlockKind::Strip, 0, Some(2)), "{err}");
    assert!(err.to_string().contains("of band 2, compression DEFLATE: "), "{err}");
    Ok(())
}

#[test]
fn header_codec_layout_and_limit_failures_say_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let source = navad_tiff::write_source(dir.path(), &scene())?;
    let lzw = navad_tiff::write_variant(&source, navad_tiff::variant("lzw-strips"), dir.path())?;

    // A compression code no codec exists for: refused at the header, as a codec problem.
    let unknown = dir.path().join("unknown-codec.tif");
    std::fs::write(&unknown, navad_tiff::with_compression_code(&std::fs::read(&lzw)?, 60_001)?)?;
    let err = rasters::tiff::header(&unknown).unwrap_err();
    assert!(matches!(err, RasterError::Codec(_)), "{err}");
    assert!(err.to_string().contains("60001"), "{err}");

    // A signature and a directory offset pointing nowhere.
    let broken = dir.path().join("broken.tif");
    std::fs::write(&broken, b"II*\0\x08\0\0\0\xff")?;
    let err = decode_error(&broken);
    assert!(matches!(err, RasterError::Header(_)), "{err}");
    assert!(err.to_string().starts_with("unreadable TIFF header or IFD: "), "{err}");
    assert!(!err.to_string().contains(&*broken.to_string_lossy()), "the local path leaked: {err}");

    // Floating-point samples have no nominal range to scale from.
    let float = dir.path().join("float.tif");
    navad_tiff::gdal_translate(&["-ot", "Float32", source.to_str().unwrap(), float.to_str().unwrap()])?;
    let err = decode_error(&float);
    assert!(matches!(err, RasterError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("Float32"), "{err}");

    // Limits are checked from the header, before any pixel buffer.
    let mut narrow = Limits::default();
    narrow.max_image_width = Some(200);
    let err = rasters::decode(&lzw, &narrow).unwrap_err();
    assert!(matches!(err, RasterError::Limits { width: 203, .. }), "{err}");
    let mut small = Limits::default();
    small.max_alloc = Some(10_000);
    let err = rasters::decode(&lzw, &small).unwrap_err();
    assert!(err.to_string().contains("above the limit of 10000 bytes"), "{err}");

    // A missing file is the machine's fault, not the input's.
    let err = decode_error(&dir.path().join("absent.tif"));
    assert!(matches!(err, RasterError::Io(_)) && !err.is_input_fault(), "{err}");
    Ok(())
}
