//! Typed errors: [`SceneError`] for loading (no Vulkan involved) and [`RenderError`] for the GPU path.

use thiserror::Error;

/// Why a scene bundle could not be turned into a [`crate::Scene`].
#[derive(Debug, Error)]
pub enum SceneError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid glTF: {0}")]
    Gltf(String),
    #[error("invalid scene bundle: {0}")]
    Bundle(String),
    #[error("unsupported glTF feature: {0}")]
    Unsupported(String),
    #[error("scene exceeds a limit: {0}")]
    Limit(String),
    #[error("bad data in {what}: {detail}")]
    Data { what: String, detail: String },
    #[error("cannot decode image {name}: {detail}")]
    Image { name: String, detail: String },
}

impl SceneError {
    pub(crate) fn data(what: impl Into<String>, detail: impl Into<String>) -> Self {
        SceneError::Data {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Why a tile could not be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("no Vulkan device: install mesa-vulkan-drivers or a GPU driver ({0})")]
    NoDevice(String),
    #[error("no Vulkan device matches {0:?}; available: {1}")]
    NoMatchingDevice(String, String),
    #[error("Vulkan call {call} failed: {result}")]
    Vulkan {
        call: &'static str,
        result: ash::vk::Result,
    },
    #[error("device unsuitable: {0}")]
    Unsuitable(String),
    #[error("no memory type for {0}")]
    NoMemoryType(&'static str),
    #[error("invalid tile request: {0}")]
    InvalidRequest(String),
    #[error("GPU did not finish within {0} s (device lost or hung)")]
    Timeout(u64),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Short-hand to attach the call name to a raw `vk::Result`.
pub(crate) trait VkContext<T> {
    fn vk(self, call: &'static str) -> Result<T, RenderError>;
}

impl<T> VkContext<T> for Result<T, ash::vk::Result> {
    fn vk(self, call: &'static str) -> Result<T, RenderError> {
        self.map_err(|result| RenderError::Vulkan { call, result })
    }
}
