//! Buffers with their own memory allocation, mapped persistently when host-visible.

use super::device::Device;
use crate::error::{RenderError, VkContext};
use ash::vk;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLocation {
    /// GPU-only storage (device-local when the device has such memory).
    Device,
    /// CPU writes, GPU reads (staging).
    Upload,
    /// GPU writes, CPU reads (cached where possible).
    Readback,
}

pub struct Buffer {
    pub raw: vk::Buffer,
    pub size: u64,
    memory: vk::DeviceMemory,
    mapped: *mut u8,
    coherent: bool,
    device: Arc<Device>,
}

// SAFETY: the mapped pointer is only dereferenced through &self/&mut self methods, and the
// Renderer that owns buffers is used from one thread at a time.
unsafe impl Send for Buffer {}

impl Buffer {
    pub fn new(
        device: &Arc<Device>,
        size: u64,
        usage: vk::BufferUsageFlags,
        location: MemoryLocation,
    ) -> Result<Buffer, RenderError> {
        let size = size.max(16);
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        let d = &device.raw;
        // SAFETY: valid device and create info.
        let raw = unsafe { d.create_buffer(&info, None) }.vk("vkCreateBuffer")?;
        let req = unsafe { d.get_buffer_memory_requirements(raw) };
        use vk::MemoryPropertyFlags as F;
        let (required, preferred, what) = match location {
            MemoryLocation::Device => (F::empty(), F::DEVICE_LOCAL, "device buffer"),
            MemoryLocation::Upload => (F::HOST_VISIBLE, F::HOST_COHERENT, "upload buffer"),
            MemoryLocation::Readback => (
                F::HOST_VISIBLE,
                F::HOST_CACHED | F::HOST_COHERENT,
                "readback buffer",
            ),
        };
        let chosen = device.memory_type(req.memory_type_bits, required, preferred, what);
        let (type_index, flags) = match chosen {
            Ok(v) => v,
            Err(e) => {
                unsafe { d.destroy_buffer(raw, None) };
                return Err(e);
            }
        };
        let alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(type_index);
        // SAFETY: valid allocate info; on failure the buffer is destroyed before returning.
        let memory = match unsafe { d.allocate_memory(&alloc, None) }.vk("vkAllocateMemory") {
            Ok(m) => m,
            Err(e) => {
                unsafe { d.destroy_buffer(raw, None) };
                return Err(e);
            }
        };
        // From here on Drop frees both.
        let mut buffer = Buffer {
            raw,
            size,
            memory,
            mapped: std::ptr::null_mut(),
            coherent: flags.contains(F::HOST_COHERENT),
            device: device.clone(),
        };
        unsafe { d.bind_buffer_memory(raw, memory, 0) }.vk("vkBindBufferMemory")?;
        if location != MemoryLocation::Device {
            // SAFETY: host-visible memory, mapped once for the buffer's lifetime.
            buffer.mapped =
                unsafe { d.map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty()) }
                    .vk("vkMapMemory")? as *mut u8;
        }
        Ok(buffer)
    }

    /// Copies `data` to the start of a mapped (upload) buffer.
    pub fn write(&mut self, data: &[u8]) -> Result<(), RenderError> {
        assert!(
            !self.mapped.is_null() && data.len() as u64 <= self.size,
            "write to an unmapped or small buffer"
        );
        // SAFETY: mapped range covers `size` bytes; checked above.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.mapped, data.len()) };
        if !self.coherent {
            let range = vk::MappedMemoryRange::default()
                .memory(self.memory)
                .size(vk::WHOLE_SIZE);
            unsafe { self.device.raw.flush_mapped_memory_ranges(&[range]) }
                .vk("vkFlushMappedMemoryRanges")?;
        }
        Ok(())
    }

    /// Copies the first `out.len()` bytes of a mapped (readback) buffer.
    pub fn read(&self, out: &mut [u8]) -> Result<(), RenderError> {
        assert!(
            !self.mapped.is_null() && out.len() as u64 <= self.size,
            "read from an unmapped or small buffer"
        );
        if !self.coherent {
            let range = vk::MappedMemoryRange::default()
                .memory(self.memory)
                .size(vk::WHOLE_SIZE);
            unsafe { self.device.raw.invalidate_mapped_memory_ranges(&[range]) }
                .vk("vkInvalidateMappedMemoryRanges")?;
        }
        // SAFETY: mapped range covers `size` bytes; checked above.
        unsafe { std::ptr::copy_nonoverlapping(self.mapped, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: the owner waits for the GPU before dropping buffers it used.
        unsafe {
            if !self.mapped.is_null() {
                self.device.raw.unmap_memory(self.memory);
            }
            self.device.raw.destroy_buffer(self.raw, None);
            self.device.raw.free_memory(self.memory, None);
        }
    }
}
