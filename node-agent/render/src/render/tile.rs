//! Splits a tile into submits of about half a second (GPU watchdogs), dispatches and reads back.
//!
//! Work is split by row bands and by sample ranges. The shader adds samples one at a time in
//! index order into the f32 accumulator, so the result does not depend on how work is split.

use super::gpu_scene::GpuScene;
use super::TileRequest;
use crate::error::RenderError;
use crate::vulkan::{Buffer, Commands, ComputePipeline, Device, MemoryLocation};
use ash::vk;
use std::sync::Arc;
use std::time::Instant;

pub const PUSH_BYTES: u32 = 64;
const WORKGROUP: u32 = 8;
/// Target wall time of one submit; well under the ~2 s of common GPU watchdogs.
const TARGET_SUBMIT_S: f64 = 0.5;
/// Assumed throughput before the first measurement (pixel-samples/s), deliberately low.
const INITIAL_RATE: f64 = 1.0e6;
/// Length of the probing submits made at `INITIAL_RATE` before anything is measured.
const PROBE_S: f64 = 0.1;
/// Submits are timed together until they add up to this much wall time (single short submits
/// time mostly overhead).
const MIN_MEASURE_S: f64 = 0.05;
/// Samples × (bounces + 1) per dispatch at most, to start with. llvmpipe (lavapipe) of Mesa 22
/// (not 25: measured on 25.0.7) stops every loop of an invocation once all loops together have
/// run 65 535 iterations in one dispatch (paths would be cut short: darker pixels). The shader drops a sample whose loops were cut and
/// counts the samples it summed (accumulator w); the pixels left behind go on from there with
/// half as many samples per dispatch, and the scene keeps the smaller figure. More samples per dispatch keep more SIMD lanes busy: a lane
/// whose samples are done idles until the slowest lane of its group finishes.
pub const INITIAL_VERTICES_PER_DISPATCH: u32 = 256;

/// Measured throughput of one scene on this device (pixel-samples per second), which sizes the
/// submits.
#[derive(Debug, Default)]
pub struct Throughput {
    rate: Option<f64>,
    /// The scene's first submit has run (it also paid for the driver's shader compilation:
    /// lavapipe compiles at the first dispatch; timing it once made every later submit of a
    /// whole 1080p frame 2 rows × 1 sample, 25–50% slower than tiles).
    seen_first: bool,
    work: f64,
    seconds: f64,
}

impl Throughput {
    /// Pixel-samples for the next submit.
    pub fn budget(&self) -> f64 {
        match self.rate {
            Some(rate) => rate * TARGET_SUBMIT_S,
            None => INITIAL_RATE * PROBE_S,
        }
    }

    /// Records a finished submit of `work` pixel-samples that took `seconds`.
    pub fn record(&mut self, work: f64, seconds: f64) {
        if !self.seen_first {
            self.seen_first = true;
            return;
        }
        self.work += work;
        self.seconds += seconds;
        if self.seconds >= MIN_MEASURE_S {
            let measured = self.work / self.seconds;
            self.rate = Some(self.rate.map_or(measured, |r| 0.5 * r + 0.5 * measured));
            self.work = 0.0;
            self.seconds = 0.0;
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    tile: [u32; 4],
    frame: [u32; 4],
    samples: [u32; 4],
    seed: [u32; 4],
}

/// Renders the tile and returns its accumulated RGBA f32 (sum over samples).
pub fn render(
    device: &Arc<Device>,
    commands: &Commands,
    pipeline: &ComputePipeline,
    scene: &mut GpuScene,
    accum: &mut Option<Buffer>,
    readback: &mut Option<Buffer>,
    req: &TileRequest,
) -> Result<Vec<f32>, RenderError> {
    let bytes = req.width as u64 * req.height as u64 * 16;
    if bytes > device.limits.max_storage_buffer_range as u64 {
        return Err(RenderError::InvalidRequest(format!(
            "tile of {}×{} needs {bytes} bytes, more than the device's storage buffer range; use smaller tiles",
            req.width, req.height
        )));
    }
    if accum.as_ref().is_none_or(|b| b.size < bytes) {
        *accum = None; // free the old one first
        *accum = Some(Buffer::new(
            device,
            bytes,
            vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_SRC,
            MemoryLocation::Device,
        )?);
        *readback = None;
        *readback = Some(Buffer::new(
            device,
            bytes,
            vk::BufferUsageFlags::TRANSFER_DST,
            MemoryLocation::Readback,
        )?);
    }
    let (accum, readback) = (
        accum.as_ref().expect("allocated"),
        readback.as_ref().expect("allocated"),
    );
    scene.set.bind(super::layout::ACCUM, accum);
    let vertices = req.max_bounces + 1;
    let mut max_samples = (scene.vertices_per_dispatch / vertices).clamp(1, req.spp);
    let mut out = dispatch(
        device,
        commands,
        pipeline,
        scene,
        (accum, readback),
        req,
        Pass::All { max_samples },
    )?;
    // Pixels whose dispatch the driver cut short go on from their own sample count, with fewer
    // samples per dispatch from then on (this scene keeps the smaller figure): only the samples
    // in flight at the cut are done again, never the whole tile.
    let mut lagging = behind(&out, req);
    while let Some((first_row, last_row)) = lagging {
        if max_samples > 1 {
            max_samples /= 2;
            scene.vertices_per_dispatch = max_samples * vertices;
            tracing::debug!(
                samples_per_dispatch = max_samples,
                "the driver cut a dispatch short (loop limit); going on with fewer samples"
            );
        }
        let before = out;
        out = dispatch(
            device,
            commands,
            pipeline,
            scene,
            (accum, readback),
            req,
            Pass::Resume {
                rows: first_row..last_row + 1,
                max_samples,
            },
        )?;
        let progressed = before
            .chunks_exact(4)
            .zip(out.chunks_exact(4))
            .any(|(a, b)| b[3] > a[3]);
        if max_samples == 1 && !progressed {
            return Err(RenderError::Unsuitable(
                "a single sample of a pixel exceeds the CPU driver's limit of 65 535 loop \
                 iterations per dispatch (scene too large or deep for lavapipe of Mesa 22; \
                 Mesa 25's has no such limit: scripts/lavapipe.sh)"
                    .into(),
            ));
        }
        lagging = behind(&out, req);
    }
    Ok(out)
}

/// The first and last row holding a pixel with fewer than `spp` samples summed.
fn behind(accum: &[f32], req: &TileRequest) -> Option<(u32, u32)> {
    let spp = req.spp as f32;
    let row_behind = |y: u32| {
        let w = req.width as usize;
        accum[y as usize * w * 4..(y as usize + 1) * w * 4]
            .chunks_exact(4)
            .any(|px| px[3] < spp)
    };
    let first = (0..req.height).find(|&y| row_behind(y))?;
    let last = (first..req.height).rev().find(|&y| row_behind(y))?;
    Some((first, last))
}

/// What one pass over a tile does.
enum Pass {
    /// Every sample of every pixel, in sample ranges of at most `max_samples`.
    All { max_samples: u32 },
    /// Rows `rows` again, each pixel going on from its own count, `max_samples` at most.
    Resume {
        rows: std::ops::Range<u32>,
        max_samples: u32,
    },
}

/// Runs `pass` over the tile into `accum` in submits of about `TARGET_SUBMIT_S`, and reads it
/// back.
fn dispatch(
    device: &Arc<Device>,
    commands: &Commands,
    pipeline: &ComputePipeline,
    scene: &mut GpuScene,
    (accum, readback): (&Buffer, &Buffer),
    req: &TileRequest,
    pass: Pass,
) -> Result<Vec<f32>, RenderError> {
    let bytes = req.width as u64 * req.height as u64 * 16;
    let (mut row, end_row, max_samples, resume) = match pass {
        Pass::All { max_samples } => (0, req.height, max_samples, false),
        Pass::Resume { rows, max_samples } => (rows.start, rows.end, max_samples, true),
    };
    let mut first = true;
    while row < end_row {
        // Rows per band: as many as fit `max_samples` samples into the budget (dispatches of
        // several samples keep both CPU-driver threads busier than one-sample dispatches), in
        // whole workgroups; when not even WORKGROUP rows fit, as many as fit one sample each.
        let budget = scene.throughput.budget();
        let all_samples = (budget / (req.width as f64 * max_samples as f64)) as u32;
        let rows = if all_samples >= WORKGROUP {
            all_samples / WORKGROUP * WORKGROUP
        } else {
            (budget / req.width as f64) as u32
        }
        .clamp(1, end_row - row);
        if resume {
            // Each pixel goes on from its own count; repeated passes finish the rest.
            let params = Params {
                tile: [req.x, req.y, req.width, req.height],
                frame: [req.frame_width, req.frame_height, row, rows],
                samples: [1, req.spp, req.max_bounces, max_samples],
                seed: [req.seed as u32, (req.seed >> 32) as u32, 0, 0],
            };
            submit(device, commands, pipeline, scene, req, &params, first)?;
            first = false;
            row += rows;
            continue;
        }
        let mut s = 0u32;
        while s < req.spp {
            let budget = scene.throughput.budget();
            let n = ((budget / (req.width as f64 * rows as f64)) as u32)
                .clamp(1, (req.spp - s).min(max_samples));
            let params = Params {
                tile: [req.x, req.y, req.width, req.height],
                frame: [req.frame_width, req.frame_height, row, rows],
                samples: [s, s + n, req.max_bounces, n],
                seed: [req.seed as u32, (req.seed >> 32) as u32, 0, 0],
            };
            let t0 = Instant::now();
            submit(device, commands, pipeline, scene, req, &params, first)?;
            let work = req.width as f64 * rows as f64 * n as f64;
            scene.throughput.record(work, t0.elapsed().as_secs_f64());
            first = false;
            s += n;
        }
        row += rows;
    }
    read_accum(device, commands, accum, readback, bytes)
}

/// Records and runs one dispatch of `params.frame[3]` rows from row `params.frame[2]`.
fn submit(
    device: &Arc<Device>,
    commands: &Commands,
    pipeline: &ComputePipeline,
    scene: &GpuScene,
    req: &TileRequest,
    params: &Params,
    first: bool,
) -> Result<(), RenderError> {
    let d = &device.raw;
    let cmd = commands.begin()?;
    let (src_stage, src_access) = if first {
        (
            vk::PipelineStageFlags::TRANSFER,
            vk::AccessFlags::TRANSFER_READ,
        )
    } else {
        (
            vk::PipelineStageFlags::COMPUTE_SHADER,
            vk::AccessFlags::SHADER_WRITE,
        )
    };
    // Previous readback (first) or previous dispatch must finish with the accumulator.
    commands.barrier(
        src_stage,
        src_access,
        vk::PipelineStageFlags::COMPUTE_SHADER,
        vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE,
    );
    // SAFETY: recording; the pipeline, set and push range match the shader.
    unsafe {
        d.cmd_bind_pipeline(cmd, vk::PipelineBindPoint::COMPUTE, pipeline.raw);
        d.cmd_bind_descriptor_sets(
            cmd,
            vk::PipelineBindPoint::COMPUTE,
            pipeline.layout,
            0,
            &[scene.set.raw],
            &[],
        );
        d.cmd_push_constants(
            cmd,
            pipeline.layout,
            vk::ShaderStageFlags::COMPUTE,
            0,
            bytemuck::bytes_of(params),
        );
        d.cmd_dispatch(
            cmd,
            req.width.div_ceil(WORKGROUP),
            params.frame[3].div_ceil(WORKGROUP),
            1,
        );
    }
    commands.submit_and_wait()
}

/// Copies the accumulator to the host-visible buffer and reads it.
fn read_accum(
    device: &Arc<Device>,
    commands: &Commands,
    accum: &Buffer,
    readback: &Buffer,
    bytes: u64,
) -> Result<Vec<f32>, RenderError> {
    let d = &device.raw;
    let cmd = commands.begin()?;
    commands.barrier(
        vk::PipelineStageFlags::COMPUTE_SHADER,
        vk::AccessFlags::SHADER_WRITE,
        vk::PipelineStageFlags::TRANSFER,
        vk::AccessFlags::TRANSFER_READ,
    );
    let region = [vk::BufferCopy::default().size(bytes)];
    // SAFETY: recording; both buffers hold at least `bytes`.
    unsafe { d.cmd_copy_buffer(cmd, accum.raw, readback.raw, &region) };
    commands.barrier(
        vk::PipelineStageFlags::TRANSFER,
        vk::AccessFlags::TRANSFER_WRITE,
        vk::PipelineStageFlags::HOST,
        vk::AccessFlags::HOST_READ,
    );
    commands.submit_and_wait()?;
    let mut out = vec![0f32; (bytes / 4) as usize];
    readback.read(bytemuck::cast_slice_mut(&mut out))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_submit_is_not_timed_and_short_submits_add_up() {
        let mut t = Throughput::default();
        assert_eq!(t.budget(), INITIAL_RATE * PROBE_S);
        // The first submit includes shader compilation: ignored.
        t.record(1000.0, 0.3);
        assert_eq!(t.budget(), INITIAL_RATE * PROBE_S);
        // 1 ms submits are summed until 50 ms have been timed.
        for _ in 0..49 {
            t.record(2000.0, 0.001);
        }
        assert_eq!(t.budget(), INITIAL_RATE * PROBE_S);
        t.record(2000.0, 0.001);
        let rate = 2000.0 / 0.001;
        assert!((t.budget() - rate * TARGET_SUBMIT_S).abs() < 1.0);
        // Later measurements move the estimate halfway.
        t.record(rate * 0.2, 0.1);
        assert!((t.budget() - 1.5 * rate * TARGET_SUBMIT_S).abs() < 1.0);
    }
}
