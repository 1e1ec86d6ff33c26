//! Frames as files: PNG ↔ the RGBA8 pixels the tile hashes commit to.
use std::path::{Path, PathBuf};

use tessera_sdk::audit::FrameImage;
use tessera_sdk::tiles::TileRect;

use crate::error::{input, CliResult};

/// The file a frame is kept in, as Blender names frames (`frame-0001.png`).
pub fn frame_path(dir: &Path, frame: u32) -> PathBuf {
    dir.join(format!("frame-{frame:04}.png"))
}

/// The file a frame's preview is kept in (`preview-0001.png`): reduced resolution, served
/// until the job is settled.
pub fn preview_path(dir: &Path, frame: u32) -> PathBuf {
    dir.join(format!("preview-{frame:04}.png"))
}

pub fn decode_png(bytes: &[u8], what: &str) -> CliResult<FrameImage> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|e| input(format!("{what} is not a PNG: {e}")))?
        .to_rgba8();
    Ok(FrameImage {
        width: img.width(),
        height: img.height(),
        rgba: img.into_raw(),
    })
}

/// The frame as a PNG (RGBA8).
pub fn encode_png(frame: &FrameImage) -> CliResult<Vec<u8>> {
    let img = image::RgbaImage::from_raw(frame.width, frame.height, frame.rgba.clone())
        .ok_or_else(|| input("the frame's pixels do not fill its size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| input(format!("cannot encode the frame as PNG: {e}")))?;
    Ok(out.into_inner())
}

/// Makes one tile transparent black (RGBA 0, 0, 0, 0): what a tile outside the receipt is.
pub fn clear_tile(frame: &mut FrameImage, rect: &TileRect) {
    let stride = frame.width as usize * 4;
    for y in rect.y..rect.y + rect.height {
        let start = y as usize * stride + rect.x as usize * 4;
        if let Some(row) = frame.rgba.get_mut(start..start + rect.width as usize * 4) {
            row.fill(0);
        }
    }
}

/// Temp file + rename, so a crash never leaves a half-written frame under its final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let tmp = path.with_extension("png.part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleared_tile_is_transparent_and_the_rest_survives_a_png_round_trip() {
        let rgba = (0..10 * 6 * 4).map(|i| (i * 7 % 251) as u8 | 1).collect();
        let mut frame = FrameImage {
            width: 10,
            height: 6,
            rgba,
        };
        let kept = frame.clone();
        let rect = TileRect {
            x: 8,
            y: 4,
            width: 2,
            height: 2,
        };
        clear_tile(&mut frame, &rect);
        let back = decode_png(&encode_png(&frame).unwrap(), "test").unwrap();
        assert_eq!(back, frame);
        for y in 0..6 {
            for x in 0..10 {
                let i = (y * 10 + x) * 4;
                let inside = x >= 8 && y >= 4;
                let px = &back.rgba[i..i + 4];
                if inside {
                    assert_eq!(px, [0, 0, 0, 0]);
                } else {
                    assert_eq!(px, &kept.rgba[i..i + 4]);
                }
            }
        }
    }
}
