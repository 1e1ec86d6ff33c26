//! Logical device, its compute queue and memory-type selection.

use super::instance::Instance;
use super::physical_device::{self, PhysicalDeviceInfo};
use crate::error::{RenderError, VkContext};
use ash::vk;
use std::sync::Arc;

/// Storage buffers the path-tracing pipeline binds at once.
pub const REQUIRED_STORAGE_BUFFERS: u32 = 9;

pub struct Device {
    pub raw: ash::Device,
    pub physical: PhysicalDeviceInfo,
    pub queue: vk::Queue,
    pub memory: vk::PhysicalDeviceMemoryProperties,
    pub limits: vk::PhysicalDeviceLimits,
    /// Kept last: the instance must outlive the device.
    _instance: Arc<Instance>,
}

impl Device {
    pub fn new(instance: Arc<Instance>, prefer: Option<&str>) -> Result<Arc<Device>, RenderError> {
        let devices = physical_device::enumerate(&instance.raw)?;
        let pairs: Vec<_> = devices.iter().map(|d| (d.name.clone(), d.kind)).collect();
        let physical = devices[physical_device::choose(&pairs, prefer)?].clone();
        // SAFETY: physical device from this instance.
        let props = unsafe { instance.raw.get_physical_device_properties(physical.raw) };
        let limits = props.limits;
        if limits.max_per_stage_descriptor_storage_buffers < REQUIRED_STORAGE_BUFFERS
            || limits.max_push_constants_size < 64
        {
            return Err(RenderError::Unsuitable(format!(
                "{} allows {} storage buffers per stage (need {REQUIRED_STORAGE_BUFFERS})",
                physical.name, limits.max_per_stage_descriptor_storage_buffers
            )));
        }
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(physical.queue_family)
            .queue_priorities(&priorities)];
        let info = vk::DeviceCreateInfo::default().queue_create_infos(&queues);
        // SAFETY: valid physical device and create info.
        let raw = unsafe { instance.raw.create_device(physical.raw, &info, None) }
            .vk("vkCreateDevice")?;
        // SAFETY: queue 0 of the family requested above.
        let queue = unsafe { raw.get_device_queue(physical.queue_family, 0) };
        let memory = unsafe {
            instance
                .raw
                .get_physical_device_memory_properties(physical.raw)
        };
        Ok(Arc::new(Device {
            raw,
            physical,
            queue,
            memory,
            limits,
            _instance: instance,
        }))
    }

    /// A memory type allowed by `type_bits` with all `required` flags, preferring `preferred`.
    pub fn memory_type(
        &self,
        type_bits: u32,
        required: vk::MemoryPropertyFlags,
        preferred: vk::MemoryPropertyFlags,
        what: &'static str,
    ) -> Result<(u32, vk::MemoryPropertyFlags), RenderError> {
        let types = &self.memory.memory_types[..self.memory.memory_type_count as usize];
        let ok = |i: usize, f: vk::MemoryPropertyFlags| {
            type_bits & (1 << i) != 0 && types[i].property_flags.contains(f)
        };
        (0..types.len())
            .find(|&i| ok(i, required | preferred))
            .or_else(|| (0..types.len()).find(|&i| ok(i, required)))
            .map(|i| (i as u32, types[i].property_flags))
            .ok_or(RenderError::NoMemoryType(what))
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: every object created from the device holds an Arc<Device>; none is alive now.
        unsafe {
            let _ = self.raw.device_wait_idle();
            self.raw.destroy_device(None);
        }
    }
}
