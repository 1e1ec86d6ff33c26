//! Frames as files: PNG ↔ the RGBA8 pixels the tile hashes commit to.
use std::path::{Path, PathBuf};

use tessera_sdk::audit::FrameImage;

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

/// Temp file + rename, so a crash never leaves a half-written frame under its final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let tmp = path.with_extension("png.part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
