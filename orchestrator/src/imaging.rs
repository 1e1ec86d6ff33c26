//! Tile images: PNG decoding to canonical RGBA8, encoding, and stitching frames.
use image::{ImageFormat, RgbaImage};

/// Largest tile edge accepted from a node.
pub const MAX_TILE_EDGE: u32 = 4096;

/// Decodes a PNG into (width, height, RGBA8 row-major).
pub fn decode_png(png: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(png), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_TILE_EDGE);
    limits.max_image_height = Some(MAX_TILE_EDGE);
    limits.max_alloc = Some(256 << 20);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let rgba = img.to_rgba8();
    Ok((rgba.width(), rgba.height(), rgba.into_raw()))
}

/// Reads only a PNG's header (IHDR): its (width, height), without inflating any pixel data.
pub fn png_dimensions(png: &[u8]) -> Result<(u32, u32), String> {
    let mut d = png::Decoder::new(std::io::Cursor::new(png));
    let info = d.read_header_info().map_err(|e| e.to_string())?;
    Ok((info.width, info.height))
}

/// Decodes a node's tile: the header must say exactly `width`×`height` before anything is
/// inflated, and decoding may allocate at most a few times the tile's RGBA size, so a
/// small file claiming a huge image (a decompression bomb) costs a header read.
pub fn decode_tile(png: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let (w, h) = png_dimensions(png)?;
    if (w, h) != (width, height) {
        return Err(format!("tile is {w}×{h}, expected {width}×{height}"));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(png), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // 16-bit RGBA (8 bytes a pixel) decoded, then converted to RGBA8: 12 bytes a pixel.
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 12 + 4096);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    Ok(img.to_rgba8().into_raw())
}

pub fn encode_png(width: u32, height: u32, rgba: Vec<u8>) -> Result<Vec<u8>, String> {
    let img = RgbaImage::from_raw(width, height, rgba).ok_or("buffer size mismatch")?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// Copies a tile's RGBA8 pixels into a frame buffer at (x, y).
pub fn blit(frame: &mut [u8], frame_width: u32, x: u32, y: u32, w: u32, h: u32, tile: &[u8]) {
    for row in 0..h {
        let dst = (((y + row) * frame_width + x) * 4) as usize;
        let src = (row * w * 4) as usize;
        frame[dst..dst + (w * 4) as usize].copy_from_slice(&tile[src..src + (w * 4) as usize]);
    }
}

/// Previews are this many times smaller than the frame on each edge.
pub const PREVIEW_SCALE: u32 = 4;

/// A preview of an RGBA8 frame: each `PREVIEW_SCALE`² block averaged into one pixel, so the
/// artist can judge the render before settlement without holding the deliverable.
/// Returns (width, height, RGBA8).
pub fn downscale(frame: &[u8], width: u32, height: u32) -> (u32, u32, Vec<u8>) {
    let (pw, ph) = (
        width.div_ceil(PREVIEW_SCALE),
        height.div_ceil(PREVIEW_SCALE),
    );
    let mut out = vec![0u8; (pw * ph * 4) as usize];
    for py in 0..ph {
        for px in 0..pw {
            let mut sum = [0u32; 4];
            let mut n = 0u32;
            for y in py * PREVIEW_SCALE..((py + 1) * PREVIEW_SCALE).min(height) {
                for x in px * PREVIEW_SCALE..((px + 1) * PREVIEW_SCALE).min(width) {
                    let i = ((y * width + x) * 4) as usize;
                    for (acc, v) in sum.iter_mut().zip(&frame[i..i + 4]) {
                        *acc += *v as u32;
                    }
                    n += 1;
                }
            }
            let o = ((py * pw + px) * 4) as usize;
            for (dst, acc) in out[o..o + 4].iter_mut().zip(sum) {
                *dst = (acc / n) as u8;
            }
        }
    }
    (pw, ph, out)
}

/// Peak signal-to-noise ratio over the RGB channels of two RGBA8 buffers of equal size,
/// in dB (`f64::INFINITY` when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let mut sum = 0u64;
    let mut n = 0u64;
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = pa[c] as i64 - pb[c] as i64;
            sum += (d * d) as u64;
            n += 1;
        }
    }
    if sum == 0 {
        return f64::INFINITY;
    }
    let mse = sum as f64 / n as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_roundtrip_and_psnr() {
        let px: Vec<u8> = (0..16 * 16 * 4).map(|i| (i % 251) as u8).collect();
        let png = encode_png(16, 16, px.clone()).unwrap();
        let (w, h, back) = decode_png(&png).unwrap();
        assert_eq!((w, h), (16, 16));
        assert_eq!(back, px);
        assert!(psnr(&px, &px).is_infinite());
        let mut off = px.clone();
        off[0] ^= 1;
        assert!(psnr(&px, &off) > 60.0);
        let black = vec![0u8; px.len()];
        assert!(psnr(&px, &black) < 15.0);
        assert_eq!(decode_tile(&png, 16, 16).unwrap(), px);
    }

    /// A PNG of 4096×4096 zero pixels compresses to ~65 KB and decodes to 64 MiB of RGBA
    /// (~130 MB with the conversion): as a 16×16 tile it is refused from its header alone.
    #[test]
    fn decompression_bomb_is_refused_from_its_header() {
        let bomb = encode_png(4096, 4096, vec![0u8; 4096 * 4096 * 4]).unwrap();
        assert!(bomb.len() < 400_000, "{}", bomb.len());
        assert_eq!(png_dimensions(&bomb).unwrap(), (4096, 4096));
        let err = decode_tile(&bomb, 16, 16).unwrap_err();
        assert!(err.contains("4096×4096"), "{err}");
        // Not a PNG at all.
        assert!(decode_tile(b"not a png", 16, 16).is_err());
    }

    #[test]
    fn previews_are_block_averages_at_a_quarter_of_each_edge() {
        // 6×5: the right and bottom blocks are partial.
        let (w, h) = (6u32, 5u32);
        let px: Vec<u8> = (0..w * h).flat_map(|i| [i as u8, 0, 255, 255]).collect();
        let (pw, ph, small) = downscale(&px, w, h);
        assert_eq!((pw, ph), (2, 2));
        // Top-left block: pixels 0..4 of rows 0..4 → mean of x + 6y over x, y < 4 = 10.5 → 10.
        assert_eq!(&small[0..4], &[10, 0, 255, 255]);
        // Bottom-right block: x 4..6, y 4..5 → 28, 29 → 28.
        assert_eq!(&small[12..16], &[28, 0, 255, 255]);
    }
}
