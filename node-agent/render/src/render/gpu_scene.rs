//! A scene's buffers on the GPU plus the descriptor set that binds them (uploaded once per key).

use crate::error::RenderError;
use crate::scene::Scene;
use crate::vulkan::{Buffer, Commands, ComputePipeline, DescriptorSet, Device, MemoryLocation};
use ash::vk;
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
        let mut packed = crate::scene::bvh::pack(&scene.nodes).map_err(RenderError::Unsuitable)?;
        if pipeline.uniform_binding.is_some() {
            // The shader declares the whole 4096-node array: bind all 64 KiB of it.
            packed.nodes.resize(super::UNIFORM_NODES, [0; 4]);
        }
        let mut g = scene.globals();
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
        let zero_tex = [crate::scene::GpuTexture { info: [0; 4] }];
        let textures: &[crate::scene::GpuTexture] = if scene.textures.is_empty() {
            &zero_tex
        } else {
            &scene.textures
        };
        let zero_light = [crate::scene::GpuLight {
            pos: [0.0; 4],
            dir: [0.0; 4],
            color: [0.0; 4],
            meta: [0.0; 4],
            cone: [0.0; 4],
        }];
        let lights: &[crate::scene::GpuLight] = if scene.lights.is_empty() {
            &zero_light
        } else {
            &scene.lights
        };
        // Binding order matches shaders/pathtrace.wgsl.
        let data: [&[u8]; 9] = [
            bytemuck::cast_slice(&globals),
            bytemuck::cast_slice(&packed.nodes),
            bytemuck::cast_slice(&scene.tris),
            bytemuck::cast_slice(&scene.shade),
            bytemuck::cast_slice(&scene.materials),
            bytemuck::cast_slice(textures),
            bytemuck::cast_slice(texels),
            bytemuck::cast_slice(lights),
            bytemuck::cast_slice(&env),
        ];
        let max_range = device.limits.max_storage_buffer_range as usize;
        if let Some(big) = data.iter().find(|d| d.len() > max_range) {
            return Err(RenderError::Unsuitable(format!(
                "scene array of {} bytes exceeds the device's storage buffer range ({max_range})",
                big.len()
            )));
        }
        let total: u64 = data.iter().map(|d| d.len() as u64).sum();
        let mut staging = Buffer::new(
            device,
            total,
            vk::BufferUsageFlags::TRANSFER_SRC,
            MemoryLocation::Upload,
        )?;
        let mut packed = Vec::with_capacity(total as usize);
        let mut buffers = Vec::with_capacity(data.len());
        for (i, d) in data.iter().enumerate() {
            let usage = if pipeline.uniform_binding == Some(i as u32) {
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
        for (d, b) in data.iter().zip(&buffers) {
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
        for (i, b) in buffers.iter().enumerate() {
            set.bind(i as u32, b);
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
