//! Compute pipeline: shader module, descriptor-set layout (storage and uniform buffers), push
//! constants.

use super::device::Device;
use crate::error::{RenderError, VkContext};
use ash::vk;
use std::sync::Arc;

pub struct ComputePipeline {
    pub raw: vk::Pipeline,
    pub layout: vk::PipelineLayout,
    pub set_layout: vk::DescriptorSetLayout,
    pub bindings: u32,
    /// Bit b set: binding b is a uniform buffer rather than a storage buffer.
    pub uniform_mask: u32,
    device: Arc<Device>,
}

impl ComputePipeline {
    /// `spirv` is raw SPIR-V bytes (any alignment); bindings 0..`bindings` are storage buffers,
    /// except those set in `uniform_mask`, uniform buffers.
    pub fn new(
        device: &Arc<Device>,
        spirv: &[u8],
        bindings: u32,
        uniform_mask: u32,
        push_bytes: u32,
    ) -> Result<ComputePipeline, RenderError> {
        let d = &device.raw;
        let words = ash::util::read_spv(&mut std::io::Cursor::new(spirv))
            .map_err(|e| RenderError::Unsuitable(format!("bad embedded SPIR-V: {e}")))?;
        let list: Vec<_> = (0..bindings)
            .map(|b| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(b)
                    .descriptor_type(descriptor_type(b, uniform_mask))
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        // Build step by step; `partial` frees whatever exists if a later step fails.
        let mut p = ComputePipeline {
            raw: vk::Pipeline::null(),
            layout: vk::PipelineLayout::null(),
            set_layout: vk::DescriptorSetLayout::null(),
            bindings,
            uniform_mask,
            device: device.clone(),
        };
        let info = vk::DescriptorSetLayoutCreateInfo::default().bindings(&list);
        // SAFETY: valid device and create infos throughout.
        p.set_layout = unsafe { d.create_descriptor_set_layout(&info, None) }
            .vk("vkCreateDescriptorSetLayout")?;
        let ranges = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .size(push_bytes)];
        let set_layouts = [p.set_layout];
        let info = vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&set_layouts)
            .push_constant_ranges(&ranges);
        p.layout = unsafe { d.create_pipeline_layout(&info, None) }.vk("vkCreatePipelineLayout")?;
        let info = vk::ShaderModuleCreateInfo::default().code(&words);
        let module = unsafe { d.create_shader_module(&info, None) }.vk("vkCreateShaderModule")?;
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main");
        let info = vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(p.layout);
        let result =
            unsafe { d.create_compute_pipelines(vk::PipelineCache::null(), &[info], None) };
        unsafe { d.destroy_shader_module(module, None) };
        p.raw = result.map_err(|(_, e)| e).vk("vkCreateComputePipelines")?[0];
        Ok(p)
    }
}

/// Descriptor type of `binding` in a layout whose uniform buffers are the bits of `uniform_mask`.
pub fn descriptor_type(binding: u32, uniform_mask: u32) -> vk::DescriptorType {
    if uniform_mask & (1 << binding) != 0 {
        vk::DescriptorType::UNIFORM_BUFFER
    } else {
        vk::DescriptorType::STORAGE_BUFFER
    }
}

impl Drop for ComputePipeline {
    fn drop(&mut self) {
        // SAFETY: null handles are ignored by the destroy calls; the GPU is idle (owner waits).
        unsafe {
            self.device.raw.destroy_pipeline(self.raw, None);
            self.device.raw.destroy_pipeline_layout(self.layout, None);
            self.device
                .raw
                .destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}
