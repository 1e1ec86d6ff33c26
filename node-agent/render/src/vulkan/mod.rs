//! Every raw Vulkan object lives here, one file per kind. Each wrapper owns its handle (and memory)
//! and frees it in `Drop`; all of them hold an `Arc<Device>`, so the device outlives everything.

pub mod buffer;
pub mod command;
pub mod descriptor;
pub mod device;
pub mod instance;
pub mod physical_device;
pub mod pipeline;

pub use buffer::{Buffer, MemoryLocation};
pub use command::Commands;
pub use descriptor::DescriptorSet;
pub use device::Device;
pub use instance::Instance;
pub use pipeline::ComputePipeline;
