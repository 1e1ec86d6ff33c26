pub mod acks;
pub mod bench;
pub mod check;
pub mod claims;
pub mod client;
pub mod contest;
pub mod render;
pub mod run;
pub mod scene_cache;

use clap::Args;

/// Device selection shared by the GPU subcommands.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Vulkan device: name substring or index (default: discrete > integrated > CPU).
    #[arg(long, env = "TESSERA_DEVICE")]
    pub device: Option<String>,
    /// Enable the Khronos validation layer.
    #[arg(long)]
    pub validation: bool,
}

impl DeviceArgs {
    pub fn renderer(&self) -> anyhow::Result<tessera_render::Renderer> {
        let r = tessera_render::Renderer::new(&tessera_render::DeviceOptions {
            prefer: self.device.clone(),
            validation: self.validation,
        })?;
        eprintln!("device: {}", r.device_name());
        if let Some(advice) = r.driver_advice() {
            eprintln!("note: {advice}");
        }
        Ok(r)
    }
}
