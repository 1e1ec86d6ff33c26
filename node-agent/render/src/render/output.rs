//! Accumulated radiance → canonical RGBA8 (sRGB), optional linear floats, hash and PNG.

use super::TileRequest;
use crate::error::RenderError;

/// A rendered tile: canonical row-major RGBA8 (sRGB, alpha 255) and its blake3 hash.
#[derive(Clone, Debug)]
pub struct TileImage {
    pub width: u32,
    pub height: u32,
    pub rgba8: Vec<u8>,
    /// Linear RGBA f32 (alpha 1), present when requested.
    pub linear: Option<Vec<f32>>,
    pub hash: [u8; 32],
}

/// Linear [0,1] → 8-bit sRGB, computed on the CPU so it is identical for every tile split.
pub fn encode_srgb(c: f32) -> u8 {
    let c = if c.is_finite() {
        c.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0 + 0.5) as u8
}

impl TileImage {
    pub(crate) fn from_accum(req: &TileRequest, accum: &[f32]) -> TileImage {
        let n = (req.width * req.height) as usize;
        let inv = 1.0 / req.spp as f32;
        let mut rgba8 = Vec::with_capacity(n * 4);
        let mut linear = req.linear.then(|| Vec::with_capacity(n * 4));
        for px in accum[..n * 4].chunks_exact(4) {
            let c = [px[0] * inv, px[1] * inv, px[2] * inv];
            rgba8.extend([encode_srgb(c[0]), encode_srgb(c[1]), encode_srgb(c[2]), 255]);
            if let Some(l) = linear.as_mut() {
                l.extend([c[0], c[1], c[2], 1.0]);
            }
        }
        let hash = crate::pixel_hash(&rgba8);
        TileImage {
            width: req.width,
            height: req.height,
            rgba8,
            linear,
            hash,
        }
    }

    /// PNG encoding of the RGBA8 pixels.
    pub fn png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(
            enc,
            &self.rgba8,
            self.width,
            self.height,
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| RenderError::Png(e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_encoding_endpoints_and_midpoint() {
        assert_eq!(encode_srgb(0.0), 0);
        assert_eq!(encode_srgb(1.0), 255);
        assert_eq!(encode_srgb(7.0), 255);
        assert_eq!(encode_srgb(f32::NAN), 0);
        assert_eq!(encode_srgb(0.2140), 127); // linear 0.214 ≈ sRGB 0.5
    }

    #[test]
    fn accum_is_divided_by_spp_and_hashed() {
        let req = TileRequest {
            linear: true,
            ..TileRequest::whole_frame(2, 1, 4, 1, 0)
        };
        let img = TileImage::from_accum(&req, &[4.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 4.0]);
        assert_eq!(img.rgba8, vec![255, 0, 188, 255, 0, 0, 0, 255]);
        assert_eq!(img.linear.as_deref().unwrap()[..4], [1.0, 0.0, 0.5, 1.0]);
        assert_eq!(img.hash, crate::pixel_hash(&img.rgba8));
        let png = img.png().unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(back.as_raw(), &img.rgba8);
    }
}
