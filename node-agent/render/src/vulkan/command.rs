//! One command buffer + fence: record, submit, wait. Also the barrier helper.

use super::device::Device;
use crate::error::{RenderError, VkContext};
use ash::vk;
use std::sync::Arc;

/// Longest wait for one submit (each is sized to about half a second).
pub const SUBMIT_TIMEOUT_S: u64 = 60;

pub struct Commands {
    pub cmd: vk::CommandBuffer,
    pool: vk::CommandPool,
    fence: vk::Fence,
    device: Arc<Device>,
}

impl Commands {
    pub fn new(device: &Arc<Device>) -> Result<Commands, RenderError> {
        let d = &device.raw;
        let info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(device.physical.queue_family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: valid device and create infos.
        let pool = unsafe { d.create_command_pool(&info, None) }.vk("vkCreateCommandPool")?;
        let mut c = Commands {
            cmd: vk::CommandBuffer::null(),
            pool,
            fence: vk::Fence::null(),
            device: device.clone(),
        };
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        c.cmd = unsafe { d.allocate_command_buffers(&info) }.vk("vkAllocateCommandBuffers")?[0];
        c.fence =
            unsafe { d.create_fence(&vk::FenceCreateInfo::default(), None) }.vk("vkCreateFence")?;
        Ok(c)
    }

    pub fn begin(&self) -> Result<vk::CommandBuffer, RenderError> {
        let d = &self.device.raw;
        // SAFETY: the previous submit was waited for, so the buffer is not in use.
        unsafe {
            d.reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .vk("vkResetCommandBuffer")?;
            let info = vk::CommandBufferBeginInfo::default()
                .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
            d.begin_command_buffer(self.cmd, &info)
                .vk("vkBeginCommandBuffer")?;
        }
        Ok(self.cmd)
    }

    /// Ends, submits and waits for the recorded commands.
    pub fn submit_and_wait(&self) -> Result<(), RenderError> {
        let d = &self.device.raw;
        let cmds = [self.cmd];
        let submit = vk::SubmitInfo::default().command_buffers(&cmds);
        // SAFETY: recorded command buffer, unsignalled fence, queue owned by this device.
        unsafe {
            d.end_command_buffer(self.cmd).vk("vkEndCommandBuffer")?;
            d.queue_submit(self.device.queue, &[submit], self.fence)
                .vk("vkQueueSubmit")?;
            let waited = d.wait_for_fences(&[self.fence], true, SUBMIT_TIMEOUT_S * 1_000_000_000);
            match waited {
                Ok(()) => {}
                Err(vk::Result::TIMEOUT) => return Err(RenderError::Timeout(SUBMIT_TIMEOUT_S)),
                Err(result) => {
                    return Err(RenderError::Vulkan {
                        call: "vkWaitForFences",
                        result,
                    })
                }
            }
            d.reset_fences(&[self.fence]).vk("vkResetFences")?;
        }
        Ok(())
    }

    /// Global memory barrier between two stages.
    pub fn barrier(
        &self,
        src_stage: vk::PipelineStageFlags,
        src_access: vk::AccessFlags,
        dst_stage: vk::PipelineStageFlags,
        dst_access: vk::AccessFlags,
    ) {
        let b = [vk::MemoryBarrier::default()
            .src_access_mask(src_access)
            .dst_access_mask(dst_access)];
        // SAFETY: recording state (between begin and submit).
        unsafe {
            self.device.raw.cmd_pipeline_barrier(
                self.cmd,
                src_stage,
                dst_stage,
                vk::DependencyFlags::empty(),
                &b,
                &[],
                &[],
            )
        };
    }
}

impl Drop for Commands {
    fn drop(&mut self) {
        // SAFETY: every submit is waited for before returning, so nothing is pending.
        unsafe {
            self.device.raw.destroy_fence(self.fence, None);
            self.device.raw.destroy_command_pool(self.pool, None);
        }
    }
}
