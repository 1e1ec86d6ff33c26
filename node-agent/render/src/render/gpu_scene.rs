//! A scene's buffers on the GPU plus the descriptor set that binds them (uploaded once per key).

use crate::error::RenderError;
use crate::scene::Scene;
use crate::scene::{GpuLight, GpuMaterial};
use crate::vulkan::{Buffer, Commands, ComputePipeline, DescriptorSet, Device, MemoryLocation};
use ash::vk;
use bytemuck::Zeroable;
use std::borrow::Cow;
use std::sync::Arc;

pub struct GpuScene {
    pub set: DescriptorSet,
    /// Measured throughput on this scene (sizes later submits).
    pub throughput: super::tile::Throughput,
    /// Samples × (bounces + 1) per dispatch at most (lowered when the driver cuts loops short).
    pub vertices_per_dispatch: u32,
    /// Which compiled shader variant renders this scene (index into the renderer's pipelines).
    pub variant: usize,
    _buffers: Vec<Buffer>,
}

impl GpuScene {
    pub fn upload(
        device: &Arc<Device>,
        commands: &Commands,
        pipeline: &ComputePipeline,
        variant: usize,
        scene: &Scene,
    ) -> Result<GpuScene, RenderError> {
        let small_scene = variant & super::VARIANT_SMALL_SCENE != 0;
        let mut g = scene.globals();
        // Storage variants get eight copies of the tree, one per ray-direction octant, each
        // ordered nearest child first (fewer node visits and triangle tests for closest hits),
        // where they fit the device's storage range and the packed node index; else one.
        let copies = !small_scene
            && octant_copies_fit(
                scene.nodes.len() as u64,
                device.limits.max_storage_buffer_range as u64,
            );
        let packed = if copies {
            g.counts[3] = 1;
            crate::scene::bvh::pack(&crate::scene::bvh::octant_copies(&scene.nodes))
        } else {
            crate::scene::bvh::pack(&scene.nodes)
        }
        .map_err(RenderError::Unsuitable)?;
        g.bvh_origin = [packed.origin[0], packed.origin[1], packed.origin[2], 0.0];
        g.bvh_step = [packed.step[0], packed.step[1], packed.step[2], 0.0];
        let globals = [g];
        let empty_u32 = [0u32];
        let texels: &[u32] = if scene.texels.is_empty() {
            &empty_u32
        } else {
            &scene.texels
        };
        let env = scene.env_texels();
        let zero_tex = [crate::scene::GpuTexture {
            info: [0; 4],
            u_row: [0.0; 4],
            v_row: [0.0; 4],
        }];
        let zero_attrs = [crate::scene::GpuAttrs::zeroed()];
        let attrs: &[crate::scene::GpuAttrs] = if scene.attrs.is_empty() {
            &zero_attrs
        } else {
            &scene.attrs
        };
        let textures: &[crate::scene::GpuTexture] = if scene.textures.is_empty() {
            &zero_tex
        } else {
            &scene.textures
        };
        let zero_light = [GpuLight {
            pos: [0.0; 4],
            dir: [0.0; 4],
            color: [0.0; 4],
            meta: [0.0; 4],
            cone: [0.0; 4],
            uv: [0.0; 4],
        }];
        let lights: &[GpuLight] = if scene.lights.is_empty() {
            &zero_light
        } else {
            &scene.lights
        };
        use super::layout as b;
        // The shader's uniform arrays of Material and Light have 208- and 96-byte strides.
        const _: () = assert!(size_of::<GpuMaterial>() == 208 && size_of::<GpuLight>() == 96);
        // Borrowed where the arrays go up as they are (large scenes): no second copy before staging.
        let mut data: Vec<(u32, Cow<[u8]>)> = vec![
            (b::GLOBALS, Cow::Borrowed(bytemuck::cast_slice(&globals))),
            (b::TEXTURES, Cow::Borrowed(bytemuck::cast_slice(textures))),
            (b::TEXELS, Cow::Borrowed(bytemuck::cast_slice(texels))),
            (b::ENV_TEXELS, Cow::Borrowed(bytemuck::cast_slice(&env))),
            (
                b::attrs(small_scene),
                Cow::Borrowed(bytemuck::cast_slice(attrs)),
            ),
        ];
        if small_scene {
            // The shader declares whole arrays: bind all of each, zero-padded to `len` bytes.
            let padded = |bytes: &[u8], len: usize| {
                let mut v = Vec::with_capacity(len);
                v.extend_from_slice(bytes);
                v.resize(len, 0);
                Cow::Owned(v)
            };
            const ENTRIES_BYTES: usize = b::UNIFORM_ENTRIES * 16;
            let column = |f: &dyn Fn(usize) -> [f32; 4], n: usize| {
                let v: Vec<[f32; 4]> = (0..n).map(f).collect();
                padded(bytemuck::cast_slice(&v), ENTRIES_BYTES)
            };
            let records = |bytes: &[u8], len: usize| padded(bytes, len);
            let (t, s) = (&scene.tris, &scene.shade);
            data.extend([
                (
                    b::NODES,
                    padded(bytemuck::cast_slice(&packed.nodes), ENTRIES_BYTES),
                ),
                (b::TRIS, column(&|i| t[i].v0, t.len())),
                (b::TRI_E1, column(&|i| t[i].e1, t.len())),
                (b::TRI_E2, column(&|i| t[i].e2, t.len())),
                (b::SHADES, column(&|i| s[i].n0, s.len())),
                (b::SHADE_N1, column(&|i| s[i].n1, s.len())),
                (b::SHADE_N2, column(&|i| s[i].n2, s.len())),
                (b::SHADE_EXTRA, column(&|i| s[i].extra, s.len())),
                (
                    b::MATERIALS,
                    records(
                        bytemuck::cast_slice(&scene.materials),
                        b::UNIFORM_MATERIALS * size_of::<GpuMaterial>(),
                    ),
                ),
                (
                    b::LIGHTS,
                    records(
                        bytemuck::cast_slice(lights),
                        b::UNIFORM_RECORDS * size_of::<GpuLight>(),
                    ),
                ),
            ]);
        } else {
            data.extend([
                (b::NODES, Cow::Borrowed(bytemuck::cast_slice(&packed.nodes))),
                (b::TRIS, Cow::Borrowed(bytemuck::cast_slice(&scene.tris))),
                (b::SHADES, Cow::Borrowed(bytemuck::cast_slice(&scene.shade))),
            ]);
            // Uniform materials and lights (variant bit 4): whole fixed-size arrays.
            let records = variant & super::VARIANT_UNIFORM_RECORDS != 0;
            fn sized(bytes: &[u8], record: usize, count: usize, records: bool) -> Cow<'_, [u8]> {
                if records {
                    let mut v = bytes.to_vec();
                    v.resize(count * record, 0);
                    Cow::Owned(v)
                } else {
                    Cow::Borrowed(bytes)
                }
            }
            data.extend([
                (
                    b::MATERIALS,
                    sized(
                        bytemuck::cast_slice(&scene.materials),
                        size_of::<GpuMaterial>(),
                        super::layout::UNIFORM_MATERIALS,
                        records,
                    ),
                ),
                (
                    b::LIGHTS,
                    sized(
                        bytemuck::cast_slice(lights),
                        size_of::<GpuLight>(),
                        super::layout::UNIFORM_RECORDS,
                        records,
                    ),
                ),
            ]);
        }
        let sizes: Vec<(u32, u64)> = data.iter().map(|(b, d)| (*b, d.len() as u64)).collect();
        super::layout::check_array_sizes(
            &sizes,
            pipeline.uniform_mask,
            small_scene,
            super::layout::BufferLimits::of(&device.limits),
            &device.physical.name,
        )
        .map_err(RenderError::Unsuitable)?;
        let total: u64 = data.iter().map(|(_, d)| d.len() as u64).sum();
        let mut staging = Buffer::new(
            device,
            total,
            vk::BufferUsageFlags::TRANSFER_SRC,
            MemoryLocation::Upload,
        )?;
        let mut packed = Vec::with_capacity(total as usize);
        let mut buffers = Vec::with_capacity(data.len());
        for (binding, d) in &data {
            let usage = if pipeline.uniform_mask & (1 << binding) != 0 {
                vk::BufferUsageFlags::UNIFORM_BUFFER
            } else {
                vk::BufferUsageFlags::STORAGE_BUFFER
            };
            buffers.push(Buffer::new(
                device,
                d.len() as u64,
                usage | vk::BufferUsageFlags::TRANSFER_DST,
                MemoryLocation::Device,
            )?);
            packed.extend_from_slice(d);
        }
        staging.write(&packed)?;
        let cmd = commands.begin()?;
        let mut offset = 0u64;
        for ((_, d), b) in data.iter().zip(&buffers) {
            let region = [vk::BufferCopy::default()
                .src_offset(offset)
                .dst_offset(0)
                .size(d.len() as u64)];
            // SAFETY: recording; both buffers are large enough.
            unsafe { device.raw.cmd_copy_buffer(cmd, staging.raw, b.raw, &region) };
            offset += d.len() as u64;
        }
        commands.barrier(
            vk::PipelineStageFlags::TRANSFER,
            vk::AccessFlags::TRANSFER_WRITE,
            vk::PipelineStageFlags::COMPUTE_SHADER,
            vk::AccessFlags::SHADER_READ,
        );
        commands.submit_and_wait()?;
        drop(staging);
        let mut set = DescriptorSet::new(device, pipeline)?;
        for ((binding, _), b) in data.iter().zip(&buffers) {
            set.bind(*binding, b);
        }
        Ok(GpuScene {
            set,
            throughput: Default::default(),
            vertices_per_dispatch: super::tile::INITIAL_VERTICES_PER_DISPATCH,
            variant,
            _buffers: buffers,
        })
    }
}

/// Whether eight 16-byte copies of `nodes` nodes fit in one storage binding of `range` bytes and
/// under the packed node index limit.
fn octant_copies_fit(nodes: u64, range: u64) -> bool {
    8 * nodes * 16 <= range && 8 * nodes <= crate::scene::bvh::PACKED_MAX_INDEX as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn octant_copies_only_where_they_fit() {
        // lavapipe: 128 MiB; a million-triangle scene (about 0.9 M nodes) fits, 2 M do not.
        assert!(super::octant_copies_fit(900_000, 1 << 27));
        assert!(!super::octant_copies_fit(1_700_000, 1 << 27));
        // A 4 GiB range is limited by the 24-bit node index instead.
        assert!(super::octant_copies_fit(2_000_000, (1 << 32) - 1));
        assert!(!super::octant_copies_fit(2_200_000, (1 << 32) - 1));
    }
}
