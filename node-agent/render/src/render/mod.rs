//! Tile dispatch and readback on top of `vulkan/`.

mod gpu_scene;
mod layout;
mod output;
mod tile;

use crate::error::RenderError;
use crate::scene::Scene;
use crate::vulkan::{Buffer, Commands, ComputePipeline, Device, Instance};
use gpu_scene::GpuScene;
use std::sync::Arc;

pub use layout::BufferLimits;
pub use output::TileImage;

/// SPIR-V compiled from `shaders/pathtrace.wgsl` by `build.rs`, by variant: bit 0 = without
/// texture lookups, vertex attribute records and alpha tests, bit 1 = without punctual lights,
/// bit 2 = without alpha tests (code a scene cannot use, compiled out), bit 3 = small scene, its
/// arrays in uniform buffers, bit 4 = a larger scene's materials and lights in uniform buffers
/// (see [`layout`]; faster on CPU drivers).
const PATHTRACE_SPV: [&[u8]; 32] = [
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v0.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v1.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v2.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v3.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v4.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v5.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v6.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v7.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v8.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v9.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v10.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v11.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v12.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v13.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v14.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v15.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v16.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v17.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v18.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v19.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v20.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v21.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v22.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v23.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v24.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v25.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v26.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v27.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v28.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v29.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v30.spv")),
    include_bytes!(concat!(env!("OUT_DIR"), "/pathtrace_v31.spv")),
];
const VARIANT_SMALL_SCENE: usize = 8;
const VARIANT_UNIFORM_RECORDS: usize = 16;
/// Scenes kept on the GPU at once (least recently used is evicted).
const SCENE_CACHE: usize = 2;

/// Which device to use. `prefer` is a name substring or an index; when `None`, the
/// `TESSERA_DEVICE` environment variable is consulted, then discrete > integrated > CPU.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    pub prefer: Option<String>,
    pub validation: bool,
}

/// One tile of one frame. The tile is `x, y, width, height` inside a `frame_width × frame_height` frame.
///
/// `frame` is carried for the protocol but mixed into nothing: static scenes give identical
/// frames for the same seed. Vary `seed` to decorrelate frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileRequest {
    pub frame: u32,
    pub frame_width: u32,
    pub frame_height: u32,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub spp: u32,
    pub max_bounces: u32,
    pub seed: u64,
    /// Also return linear RGBA f32 (the mean radiance, unclamped).
    pub linear: bool,
}

pub const MAX_FRAME_DIMENSION: u32 = 16384;
pub const MAX_SPP: u32 = 1 << 16;
pub const MAX_BOUNCES: u32 = 64;

impl TileRequest {
    /// The whole frame as one tile.
    pub fn whole_frame(
        width: u32,
        height: u32,
        spp: u32,
        max_bounces: u32,
        seed: u64,
    ) -> TileRequest {
        TileRequest {
            frame: 0,
            frame_width: width,
            frame_height: height,
            x: 0,
            y: 0,
            width,
            height,
            spp,
            max_bounces,
            seed,
            linear: false,
        }
    }

    /// This request restricted to a sub-rectangle of the frame.
    pub fn tile(&self, x: u32, y: u32, width: u32, height: u32) -> TileRequest {
        TileRequest {
            x,
            y,
            width,
            height,
            ..self.clone()
        }
    }

    pub fn validate(&self) -> Result<(), RenderError> {
        let bad = |m: String| Err(RenderError::InvalidRequest(m));
        if self.frame_width == 0
            || self.frame_height == 0
            || self.frame_width > MAX_FRAME_DIMENSION
            || self.frame_height > MAX_FRAME_DIMENSION
        {
            return bad(format!(
                "frame {}×{} (1..={MAX_FRAME_DIMENSION})",
                self.frame_width, self.frame_height
            ));
        }
        let fits = |o: u32, s: u32, f: u32| s > 0 && o.checked_add(s).is_some_and(|e| e <= f);
        if !fits(self.x, self.width, self.frame_width)
            || !fits(self.y, self.height, self.frame_height)
        {
            return bad(format!(
                "tile {},{},{},{} is empty or outside the {}×{} frame",
                self.x, self.y, self.width, self.height, self.frame_width, self.frame_height
            ));
        }
        if self.spp == 0 || self.spp > MAX_SPP {
            return bad(format!("spp {} (1..={MAX_SPP})", self.spp));
        }
        if self.max_bounces > MAX_BOUNCES {
            return bad(format!(
                "max_bounces {} (max {MAX_BOUNCES})",
                self.max_bounces
            ));
        }
        Ok(())
    }
}

/// Owns the Vulkan instance and device; one per process.
pub struct Renderer {
    // Field order is drop order: GPU resources first, the device last.
    scenes: Vec<([u8; 32], GpuScene)>,
    accum: Option<Buffer>,
    readback: Option<Buffer>,
    commands: Commands,
    /// By shader variant (`PATHTRACE_SPV`), created on first use.
    pipelines: [Option<ComputePipeline>; 32],
    device: Arc<Device>,
    device_name: String,
    driver: String,
}

impl Renderer {
    pub fn new(opts: &DeviceOptions) -> Result<Renderer, RenderError> {
        let instance = Instance::new(opts.validation)?;
        let env = std::env::var("TESSERA_DEVICE").ok();
        let prefer = opts.prefer.as_deref().or(env.as_deref());
        let device = Device::new(instance, prefer)?;
        let commands = Commands::new(&device)?;
        let device_name = device.physical.name.clone();
        let driver = device.physical.driver.clone();
        tracing::info!(device = %device_name, %driver, kind = ?device.physical.kind, "Vulkan device selected");
        Ok(Renderer {
            scenes: Vec::new(),
            accum: None,
            readback: None,
            commands,
            pipelines: Default::default(),
            device,
            device_name,
            driver,
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The driver's name and version (`PhysicalDeviceInfo::driver`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// lavapipe of Mesa 22 or older: it cuts loops at 65 535 iterations a dispatch and loads
    /// storage buffers one lane at a time (renderer README, "Round 8").
    pub fn old_lavapipe(&self) -> bool {
        old_lavapipe(&self.device_name, &self.driver)
    }

    /// Advice for an operator whose node renders on a slow CPU driver, if it does.
    pub fn driver_advice(&self) -> Option<&'static str> {
        driver_advice(&self.device_name, &self.driver)
    }

    /// The device's `maxStorageBufferRange` and `maxUniformBufferRange`: no scene array may
    /// exceed them (checked before upload).
    pub fn buffer_limits(&self) -> BufferLimits {
        BufferLimits::of(&self.device.limits)
    }

    /// Load limits for this device: the defaults with [`crate::SceneLimits::max_array_bytes`]
    /// set to its storage buffer range, so that a scene too large for it is refused while
    /// loading (before the BVH build) rather than at upload.
    pub fn scene_limits(&self) -> crate::SceneLimits {
        crate::SceneLimits {
            max_array_bytes: self.buffer_limits().max_storage_buffer_range,
            ..Default::default()
        }
    }

    /// Renders one tile. The scene is uploaded on first use of `scene_key` and kept for later
    /// tiles (the caller guarantees that one key always means the same scene, e.g. its bundle hash).
    pub fn render_tile(
        &mut self,
        scene_key: &[u8; 32],
        scene: &Scene,
        req: &TileRequest,
    ) -> Result<TileImage, RenderError> {
        req.validate()?;
        let pos = match self.scenes.iter().position(|(k, _)| k == scene_key) {
            Some(p) => p,
            None => {
                if self.scenes.len() >= SCENE_CACHE {
                    self.scenes.remove(0);
                }
                let small = layout::fits_small_scene(scene, &self.device.limits);
                let records = !small && layout::fits_uniform_records(scene, &self.device.limits);
                let variant = usize::from(!scene.needs_texture_path())
                    | usize::from(!scene.has_punctual_lights()) << 1
                    | usize::from(!scene.has_alpha_tests()) << 2
                    | if small { VARIANT_SMALL_SCENE } else { 0 }
                    | if records { VARIANT_UNIFORM_RECORDS } else { 0 };
                let pipeline = match &mut self.pipelines[variant] {
                    Some(p) => p,
                    slot => slot.insert(ComputePipeline::new(
                        &self.device,
                        PATHTRACE_SPV[variant],
                        layout::bindings(small),
                        layout::uniform_mask(small, records),
                        tile::PUSH_BYTES,
                    )?),
                };
                let gpu = GpuScene::upload(&self.device, &self.commands, pipeline, variant, scene)?;
                self.scenes.push((*scene_key, gpu));
                self.scenes.len() - 1
            }
        };
        // Most recently used last.
        let entry = self.scenes.remove(pos);
        self.scenes.push(entry);
        let gpu = &mut self.scenes.last_mut().expect("just pushed").1;
        let pipeline = self.pipelines[gpu.variant]
            .as_ref()
            .expect("created with the scene");
        let accum = tile::render(
            &self.device,
            &self.commands,
            pipeline,
            gpu,
            &mut self.accum,
            &mut self.readback,
            req,
        )?;
        Ok(TileImage::from_accum(req, &accum))
    }
}

fn old_lavapipe(device: &str, driver: &str) -> bool {
    device.contains("llvmpipe") && mesa_version(driver).is_some_and(|v| v.0 <= 22)
}

/// Mesa 25's lavapipe renders the bench scenes 1.2–1.8× faster (renderer README, "Round 8").
fn driver_advice(device: &str, driver: &str) -> Option<&'static str> {
    old_lavapipe(device, driver).then_some(
        "lavapipe of Mesa 25 renders real scenes 1.2-1.8x faster than this Mesa 22: \
         export VK_DRIVER_FILES=$(scripts/lavapipe.sh) selects it (Debian 12, amd64)",
    )
}

/// The Mesa release of a Mesa driver (lavapipe: "llvmpipe Mesa 25.0.7 …" → (25, 0)).
fn mesa_version(driver: &str) -> Option<(u32, u32)> {
    let rest = driver.split("Mesa ").nth(1)?;
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mesa_release_is_read_from_the_driver_text() {
        let v = super::mesa_version;
        assert_eq!(
            v("llvmpipe Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"),
            Some((25, 0))
        );
        assert_eq!(v("llvmpipe Mesa 22.3.6 (LLVM 15.0.6)"), Some((22, 3)));
        assert_eq!(v("NVIDIA 550.54.15"), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn only_lavapipe_of_mesa_22_or_older_gets_advice() {
        let a = super::driver_advice;
        let cpu = "llvmpipe (LLVM 15.0.6, 256 bits)";
        assert!(a(cpu, "llvmpipe Mesa 22.3.6 (LLVM 15.0.6)").is_some());
        assert!(a(cpu, "llvmpipe Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)").is_none());
        assert!(a("NVIDIA H200", "NVIDIA 550.54.15").is_none());
        assert!(a("AMD Radeon (RADV NAVI21)", "radv Mesa 22.3.6").is_none());
    }
}
