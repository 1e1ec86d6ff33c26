//! One descriptor set of storage and uniform buffers, with its own pool.

use super::buffer::Buffer;
use super::device::Device;
use super::pipeline::ComputePipeline;
use crate::error::{RenderError, VkContext};
use ash::vk;
use std::sync::Arc;

pub struct DescriptorSet {
    pub raw: vk::DescriptorSet,
    pool: vk::DescriptorPool,
    uniform_mask: u32,
    device: Arc<Device>,
}

impl DescriptorSet {
    pub fn new(
        device: &Arc<Device>,
        pipeline: &ComputePipeline,
    ) -> Result<DescriptorSet, RenderError> {
        let uniforms = (pipeline.uniform_mask & ((1 << pipeline.bindings) - 1)).count_ones();
        let all = [
            vk::DescriptorPoolSize::default()
                .ty(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(pipeline.bindings - uniforms),
            vk::DescriptorPoolSize::default()
                .ty(vk::DescriptorType::UNIFORM_BUFFER)
                .descriptor_count(uniforms),
        ];
        let sizes: Vec<_> = all.into_iter().filter(|s| s.descriptor_count > 0).collect();
        let info = vk::DescriptorPoolCreateInfo::default()
            .max_sets(1)
            .pool_sizes(&sizes);
        // SAFETY: valid device and create infos.
        let pool = unsafe { device.raw.create_descriptor_pool(&info, None) }
            .vk("vkCreateDescriptorPool")?;
        let mut set = DescriptorSet {
            raw: vk::DescriptorSet::null(),
            pool,
            uniform_mask: pipeline.uniform_mask,
            device: device.clone(),
        };
        let layouts = [pipeline.set_layout];
        let info = vk::DescriptorSetAllocateInfo::default()
            .descriptor_pool(pool)
            .set_layouts(&layouts);
        set.raw = unsafe { device.raw.allocate_descriptor_sets(&info) }
            .vk("vkAllocateDescriptorSets")?[0];
        Ok(set)
    }

    /// Points `binding` at the whole of `buffer`. The set must not be in use by the GPU.
    pub fn bind(&mut self, binding: u32, buffer: &Buffer) {
        let infos = [vk::DescriptorBufferInfo::default()
            .buffer(buffer.raw)
            .offset(0)
            .range(vk::WHOLE_SIZE)];
        let write = vk::WriteDescriptorSet::default()
            .dst_set(self.raw)
            .dst_binding(binding)
            .descriptor_type(super::pipeline::descriptor_type(binding, self.uniform_mask))
            .buffer_info(&infos);
        // SAFETY: valid set and buffer; callers only rebind between waited submits.
        unsafe { self.device.raw.update_descriptor_sets(&[write], &[]) };
    }
}

impl Drop for DescriptorSet {
    fn drop(&mut self) {
        // SAFETY: destroying the pool frees its set; the GPU is idle (owner waits).
        unsafe { self.device.raw.destroy_descriptor_pool(self.pool, None) };
    }
}
